// HJ 212 frames for tests, built independently of the C codec (the standard's CRC, not MODBUS).
import net from 'node:net';

export function crc212(buf) {
  let crc = 0xffff;
  for (const b of buf) {
    crc = (crc >> 8) ^ b;
    for (let i = 0; i < 8; i++) { const lsb = crc & 1; crc >>= 1; if (lsb) crc ^= 0xa001; }
  }
  return crc;
}

export function frame(data) {
  const body = Buffer.from(data, 'utf8');
  const crc = crc212(body).toString(16).toUpperCase().padStart(4, '0');
  return Buffer.concat([Buffer.from('##' + String(body.length).padStart(4, '0')), body, Buffer.from(crc + '\r\n')]);
}

// local time (UTC+8) digits for a UTC ms timestamp
export function local14(ms, offsetMin = 480) {
  const d = new Date(ms + offsetMin * 60000);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function qnOf(ms) { return local14(ms) + String(ms % 1000).padStart(3, '0'); }

// A client that collects every frame the platform sends.
export class Station {
  constructor(port) { this.port = port; this.frames = []; this.buf = ''; this.waiters = []; }
  connect() {
    return new Promise((resolve, reject) => {
      this.sock = net.connect(this.port, '127.0.0.1', resolve);
      this.sock.on('error', reject);
      this.sock.on('data', (d) => {
        this.buf += d.toString('latin1');
        let i;
        while ((i = this.buf.indexOf('\r\n')) >= 0) {
          this.frames.push(this.buf.slice(0, i + 2));
          this.buf = this.buf.slice(i + 2);
        }
        this.waiters = this.waiters.filter((w) => !w());
      });
      this.closed = new Promise((r) => this.sock.on('close', r));
    });
  }
  write(b) { return new Promise((r) => this.sock.write(b, r)); }
  // waits for a frame matching re (not yet taken); returns it
  next(re, timeout = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex((f) => re.test(f));
        if (i < 0) return false;
        const [f] = this.frames.splice(i, 1);
        clearTimeout(t);
        resolve(f);
        return true;
      };
      const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== check); reject(new Error(`no frame matching ${re} within ${timeout} ms; have ${JSON.stringify(this.frames)}`)); }, timeout);
      if (!check()) this.waiters.push(check);
    });
  }
  close() { this.sock.end(); this.sock.destroy(); }
}
