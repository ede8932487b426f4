// The park the emergency and permit browser tests run on: the dispersion test park (E1 300 m east
// of [118.17, 36.18], E2 north of it, E3 2 km east) with a site plan drawn around it, a weather
// station (HJ 212 a01007/a01008/a01001/a01006), H2S detectors around E1 and a combustible
// detector in E1's unit, fed by the tests through /write (the real ingest path).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DATA } from '../integration/harness.mjs';

export const MN = '010000A8900016F0001WIND01';

export function parkModel() {
  const m = JSON.parse(readFileSync(path.join(DATA, 'dispersion-park.json'), 'utf8'));
  const box = (id, props, [x0, y0, x1, y1]) => ({ type: 'Feature', id, properties: { id, ...props },
    geometry: { type: 'Polygon', coordinates: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] } });
  m.park.site_plan = { type: 'FeatureCollection', features: [
    box('BOUNDARY', { kind: 'park_boundary', name: '园区边界' }, [118.155, 36.17, 118.2, 36.195]),
    box('E1', { kind: 'enterprise', enterprise: 'E1', name: '下风向化工' }, [118.172, 36.178, 118.175, 36.182]),
    box('E2', { kind: 'enterprise', enterprise: 'E2', name: '上风向制药' }, [118.168, 36.188, 118.172, 36.191]),
    box('E3', { kind: 'enterprise', enterprise: 'E3', name: '远处物流' }, [118.19, 36.178, 118.196, 36.182]),
  ] };
  m.areas.push({ id: 'E1-U1', name: '一号装置', enterprise: 'E1', kind: 'production',
    polygon: [[118.1725, 36.1785], [118.1745, 36.1785], [118.1745, 36.1815], [118.1725, 36.1815]] });
  const hj = (code, quantity, name, unit) => ({ id: `WS-01.${code}`, name, quantity, unit, series: `hj212_rtd{mn="${MN}",code="${code}",cn="2011"}` });
  const gas = (id, quantity, unit, location, setpoints, range) => ({ id, name: `${quantity} ${id}`, kind: 'gas_detector', enterprise: 'E1', area: 'E1-U1',
    protocol: 'modbus', modbus: { host: '127.0.0.1', port: 9, unit: 1 }, location,
    points: [{ id: `${id}.${quantity}`, name: `${quantity}浓度`, quantity, unit, series: `gas_concentration{device="${id}"}`, setpoints, range,
      register: { table: 'input', address: 0, type: 'float32', word_order: 'big', scale: 1, offset: 0 } }] });
  m.devices = [
    { id: 'WS-01', name: '园区气象站', kind: 'env_station', protocol: 'hj212', location: [118.168, 36.179],
      hj212: { mn: MN, password: '123456', st: '22' }, points: [hj('a01007', 'wind_speed', '风速', 'm/s'), hj('a01008', 'wind_direction', '风向', '°'),
        hj('a01001', 'temperature', '气温', '°C'), hj('a01006', 'pressure', '气压', 'kPa')] },
    gas('E1-CB-01', 'combustible', '%LEL', [118.1735, 36.18], { alarm1: 25, alarm2: 50 }, [0, 100]),
    gas('E1-HS-01', 'h2s', 'ppm', [118.1734, 36.18], { alarm1: 7.1, alarm2: 14.1 }, [0, 100]),
    gas('E1-HS-02', 'h2s', 'ppm', [118.1734, 36.1808], { alarm1: 7.1, alarm2: 14.1 }, [0, 100]),
    gas('E1-HS-03', 'h2s', 'ppm', [118.1734, 36.1792], { alarm1: 7.1, alarm2: 14.1 }, [0, 100]),
  ];
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pw-browser-park-')), 'park.json');
  writeFileSync(file, JSON.stringify(m));
  return file;
}

// The weather station's reading as HJ 212 real-time data through /write.
export function weatherLines({ speed = 5, from = 270, temperature = 20, pressure = 101.3 } = {}) {
  const tags = `mn=${MN},cn=2011`;
  return [`hj212,${tags},code=a01007 rtd=${speed}`, `hj212,${tags},code=a01008 rtd=${from}`,
    `hj212,${tags},code=a01001 rtd=${temperature}`, `hj212,${tags},code=a01006 rtd=${pressure}`].join('\n');
}
