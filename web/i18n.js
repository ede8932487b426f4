// UI strings: Chinese first (zh-CN), English on the switch; the choice is kept in localStorage.
// t('a.b') looks up nested keys; a missing key falls back to Chinese, then to the key itself.
import { ref } from '/vendor/vue.esm-browser.prod.js';

const zh = {
  title: '园区智慧监管平台', login: '登录', user: '用户名', password: '密码', signin: '登录', logout: '退出',
  badLogin: '用户名或密码错误', tooMany: '登录失败次数过多，请稍后再试', switchLang: 'English', loading: '加载中…',
  sessionEnded: '登录已失效，请重新登录',
  roles: { admin: '管理员', supervisor: '监管人员', enterprise: '企业用户', viewer: '只读用户' },
  nav: { screen: '大屏', alarms: '报警处置', enterprise: '企业', env: '环境监测', vehicles: '危化品车辆', devices: '设备与接入', admin: '系统管理' },
  conn: { open: '实时', connecting: '连接中', lost: '已断开' },
  connLost: '连接已断开，正在重连… 恢复后将补发断开期间的报警',
  newSevere: '新的一级/二级报警！点击查看',
  sound: '声音', muted: '静音', soundOn: '♪ 声音：开', soundOff: '♪ 声音：关', muteTitle: '报警声音开关',
  screenTitle: '安全监管一张图', screenSubtitle: '化工园区智慧安全监管 · 实时', parkMap: '园区一张图',
  todayFigures: '今日概况', entries: '入园车次', exits: '出园车次', alarmsRaised: '今日报警', alarmsClosed: '今日闭环',
  peopleInside: '园内人数', hazmatInside: '园内危化品车', openByLevel: '未处置报警（按级别）', devicesByKind: '设备在线情况',
  alarmTicker: '实时报警', envTrends: '环境监测趋势（近6小时）', hazmatVehicles: '危化品车辆', vehicleAlarms: '车辆报警',
  noOpenAlarms: '当前无未处置报警', online: '在线', offline: '离线', noDataYet: '无数据', noPoints: '无测点',
  inLot: '停车场内', inPark: '园区内', outside: '园区外', unknown: '未知', plate: '车牌', enterprise: '企业', speed: '速度', status: '状态',
  level: { red: '一级', orange: '二级', yellow: '三级', blue: '四级', none: '正常' },
  state: { active: '未确认', acknowledged: '已确认', cleared: '已解除', closed: '已关闭' },
  rule: { gas: '气体报警', threshold: '超限报警', exceed: '排放超标', early: '趋势预警', offline: '设备离线', flatline: '数据停滞',
    linked: '区域联动报警', roc: '变化率报警', curve: '曲线偏离', fire: '火警', fault: '故障', supervisory: '监管' },
  cond: { alarm1: '一级报警', alarm2: '二级报警', o2_lo: '氧含量过低', o2_hi: '氧含量过高', hi: '高报', hihi: '高高报', lo: '低报', lolo: '低低报',
    limit: '超过排放限值', predicted: '预计将达报警值', silent: '无数据', stuck: '数值不变', area: '多点报警', rise: '上升过快', fall: '下降过快',
    above: '高于曲线', below: '低于曲线', fire: '火警', fault: '故障', supervisory: '监管' },
  hist: { raise: '报警', raised: '报警', update: '更新', reraise: '再次报警', clear: '解除', ack: '确认', comment: '备注', assign: '指派', close: '关闭',
    silence: '屏蔽', flapping: '频繁波动', stable: '恢复稳定' },
  kind: { gas_detector: '气体探测器', tank_sensor_set: '储罐监测', vehicle_terminal: '车载终端', fire_panel: '火灾报警控制器', env_station: '环境监测站',
    camera: '摄像机', kiln: '窑炉', gate: '卡口', other: '其他' },
  ikind: { kiln: '窑炉', tank_farm: '罐区', furnace: '加热炉', reactor: '反应装置', warehouse: '仓库', unit: '生产装置', process_unit: '生产装置' },
  akind: { loading: '装卸区', office: '办公区', production: '生产区', tank_farm: '罐区', warehouse: '仓储区', utility: '公用工程', wastewater: '污水处理' },
  qty: { so2: 'SO₂', nox: 'NOx', pm25: 'PM2.5', vocs: 'VOCs' },
  q: { 0: '正常 (N)', 1: '停运 (F)', 2: '维护 (M)', 3: '手工数据 (S)', 4: '故障 (D)', 5: '校准 (C)', 6: '超测量上限 (T)', 7: '通讯异常 (B)',
    15: '其他标记', 16: '未定位', 17: '时间异常', 32: '读取失败', 33: '读取超时', 34: '设备离线', 35: '数值无效', 36: '尚未采集' },
  sp: { alarm1: '一级报警', alarm2: '二级报警', hi: '高报', hihi: '高高报', lo: '低报', lolo: '低低报', limit: '排放限值', deadband: '回差' },
  act: { ack: '确认', clear: '解除', close: '关闭', comment: '备注', assign: '指派', silence: '屏蔽' },
  done: { ack: '已确认', clear: '已解除', close: '已关闭', comment: '已添加备注', assign: '已指派', silence: '已设置屏蔽' },
  silKind: { device: '设备', point: '测点', area: '区域', enterprise: '企业', source: '报警源' },
  dur: { '30m': '30分钟', '2h': '2小时', '8h': '8小时', '24h': '24小时', '72h': '3天', '7d': '7天' },
  range: { '1h': '1小时', '6h': '6小时', '24h': '24小时', '7d': '7天', '30d': '30天' },
  dataKind: { rtd: '实时数据', min: '分钟数据', hour: '小时数据', day: '日数据' },
  valarm: { stop_outside_lot: '违规停车', restricted_zone: '闯入禁区', off_route: '偏离路线', speeding: '超速', overstay: '滞留超时', silent: '终端失联',
    terminal_emergency: '紧急报警', terminal_overspeed: '终端超速', terminal_fatigue: '疲劳驾驶', terminal_danger_warning: '危险预警',
    terminal_power_low: '电压过低', terminal_power_off: '终端断电', terminal_collision: '碰撞', terminal_rollover: '侧翻' },
  dir: { in: '入园', out: '出园' },
  imp: { json: '园区模型 JSON', devices: '设备台账 CSV', points: '测点台账 CSV' },
  setpoint: '设定值', agoS: '{n}秒前', agoM: '{n}分钟前', agoH: '{n}小时前', agoD: '{n}天前', never: '从未', parkOwned: '园区', quality: '质量码',
  noData: '暂无数据', items: '条', loadMore: '加载更多', noAlarms: '没有符合条件的报警', pickAlarm: '选择左侧报警查看详情与处置',
  alarmDetail: '报警详情', silences: '屏蔽（检修）', target: '对象', reason: '原因', expires: '到期', by: '操作人', end: '结束', noSilences: '当前无屏蔽',
  allLevels: '全部级别', allEnterprises: '全部企业', allAreas: '全部区域', allKinds: '全部类型', allStates: '全部状态', from: '从', to: '至', today: '今天', reset: '重置',
  startedAt: '发生时间', source: '报警源', description: '描述', assignee: '处置人', area: '区域', point: '测点', value: '数值', acknowledgedAt: '确认',
  clearedAt: '解除', flags: '标记', silenced: '已屏蔽', inhibited: '已抑制', flapping: '频繁波动', grouped: '已归并', history: '历史记录',
  commentPh: '备注 / 处置说明', assigneePh: '处置人', reasonPh: '屏蔽原因（必填）', reasonRequired: '请填写屏蔽原因',
  sampledAt: '采集时间', series: '序列', device: '设备', id: '编号', protocol: '协议', lastSeen: '最后上报', location: '位置', setpoints: '报警设定',
  openAlarms: '未处置报警', qualityCodes: '质量码说明', badQuality: '异常质量', downsampled: '服务端降采样：每 {s} 秒一个点', rawSamples: '原始数据：{n} 个点',
  notFound: '未找到', noAccess: '无权访问或对象不存在', stDevices: '设备', stPoints: '测点', stHazards: '重大危险源', basicInfo: '基本信息',
  uscc: '统一社会信用代码', industry: '行业', contact: '联系人', installations: '装置与重大危险源', name: '名称', majorHazard: '重大危险源', grade: '',
  areas: '区域', pointsList: '测点', time: '时间', filterPh: '筛选…', stations: '监测站', pollutant: '监测因子', code: '编码', limit: '限值', flag: '数据标记', receipt: '下载存证', receiptTitle: '下载该值所在报文的存证（c2sp tlog-proof，可用监管方工具离线验证）',
  envData: '监测数据', exceedances: '超标记录', missingData: '缺数统计', missingData24h: '近24小时缺数情况（每小时样本数）', noExceed: '暂无超标记录',
  station: '监测站', samples: '个样本', missing: '缺失', partial: '不完整', complete: '完整', missingHours: '缺数小时',
  liveMap: '实时位置', trackReplay: '轨迹回放', pickVehicle: '选择车辆', play: '回放', vehicleList: '车辆列表', entryLog: '出入记录', cargo: '货物',
  hazmat: '危', locate: '点名', locateSent: '已下发位置查询', total: '总数', direction: '方向', gate: '卡口', alarm: '报警', since: '开始', detail: '详情',
  deviceList: '设备列表', quarantineHj212: '待接入 HJ 212 设备', quarantineJt808: '待接入车载终端', peer: '来源地址', frames: '报文数', register: '登记接入',
  noQuarantine: '无待接入设备', registerDevice: '登记设备', namePh: '设备名称', cancel: '取消', registered: '已登记', phone: '终端手机号',
  users: '用户与角色', displayName: '显示名', role: '角色', lastLogin: '最近登录', delete: '删除', deleteUser: '删除用户', addUser: '新增用户',
  pickEnterprise: '选择企业', add: '添加', saved: '已保存', modelImport: '模型导入', replaceAll: '替换全部（删除未提及对象）', import: '导入',
  importOk: '导入成功', exportModel: '导出当前模型', devicesUnit: '台设备', hazardUnit: '处重大危险源', kindLabel: '类型', rangeLabel: '量程', levelLabel: '级别', stateLabel: '状态', ruleLabel: '规则',
};

const en = {
  title: 'Park Supervision Platform', login: 'Sign in', user: 'User', password: 'Password', signin: 'Sign in', logout: 'Sign out',
  badLogin: 'Wrong user name or password', tooMany: 'Too many failed logins; try again later', switchLang: '中文', loading: 'Loading…',
  sessionEnded: 'Session ended; please sign in again',
  roles: { admin: 'admin', supervisor: 'supervisor', enterprise: 'enterprise', viewer: 'viewer' },
  nav: { screen: 'Big screen', alarms: 'Alarms', enterprise: 'Enterprises', env: 'Environment', vehicles: 'Vehicles', devices: 'Devices', admin: 'Admin' },
  conn: { open: 'Live', connecting: 'Connecting', lost: 'Lost' },
  connLost: 'Connection lost — reconnecting… alarms raised meanwhile will be delivered',
  newSevere: 'New level I/II alarm! Click to open', sound: 'Sound', muted: 'Muted', soundOn: '♪ Sound on', soundOff: '♪ Sound off', muteTitle: 'Alarm sound on/off',
  screenTitle: 'Safety Overview', screenSubtitle: 'Chemical park supervision · live', parkMap: 'Park map',
  todayFigures: "Today", entries: 'Entries', exits: 'Exits', alarmsRaised: 'Alarms raised', alarmsClosed: 'Alarms closed',
  peopleInside: 'People inside', hazmatInside: 'Hazmat vehicles in', openByLevel: 'Open alarms by level', devicesByKind: 'Devices online',
  alarmTicker: 'Live alarms', envTrends: 'Environment (last 6 h)', hazmatVehicles: 'Hazmat vehicles', vehicleAlarms: 'Vehicle alarms',
  noOpenAlarms: 'No open alarms', online: 'online', offline: 'offline', noDataYet: 'no data', noPoints: 'no points',
  inLot: 'in parking lot', inPark: 'in park', outside: 'outside', unknown: 'unknown', plate: 'Plate', enterprise: 'Enterprise', speed: 'Speed', status: 'Status',
  level: { red: 'Level I', orange: 'Level II', yellow: 'Level III', blue: 'Level IV', none: 'Normal' },
  state: { active: 'active', acknowledged: 'acknowledged', cleared: 'cleared', closed: 'closed' },
  rule: { gas: 'Gas', threshold: 'Threshold', exceed: 'Emission exceedance', early: 'Early warning', offline: 'Device offline', flatline: 'Flatline',
    linked: 'Linked area alarm', roc: 'Rate of change', curve: 'Curve deviation', fire: 'Fire', fault: 'Fault', supervisory: 'Supervisory' },
  cond: { alarm1: 'first level', alarm2: 'second level', o2_lo: 'oxygen low', o2_hi: 'oxygen high', hi: 'high', hihi: 'high-high', lo: 'low', lolo: 'low-low',
    limit: 'above limit', predicted: 'predicted to reach alarm', silent: 'silent', stuck: 'stuck', area: 'several detectors', rise: 'rising fast', fall: 'falling fast',
    above: 'above curve', below: 'below curve', fire: 'fire', fault: 'fault', supervisory: 'supervisory' },
  hist: { raise: 'raised', raised: 'raised', update: 'updated', reraise: 're-raised', clear: 'cleared', ack: 'acknowledged', comment: 'comment', assign: 'assigned',
    close: 'closed', silence: 'silenced', flapping: 'flapping', stable: 'stable' },
  kind: { gas_detector: 'Gas detectors', tank_sensor_set: 'Tank sensors', vehicle_terminal: 'Vehicle terminals', fire_panel: 'Fire panels', env_station: 'Env. stations',
    camera: 'Cameras', kiln: 'Kilns', gate: 'Gates', other: 'Other' },
  ikind: { kiln: 'kiln', tank_farm: 'tank farm', furnace: 'furnace', reactor: 'reactor', warehouse: 'warehouse', unit: 'process unit', process_unit: 'process unit' },
  akind: { loading: 'loading', office: 'office', production: 'production', tank_farm: 'tank farm', warehouse: 'warehouse', utility: 'utility', wastewater: 'wastewater' },
  qty: { so2: 'SO₂', nox: 'NOx', pm25: 'PM2.5', vocs: 'VOCs' },
  q: { 0: 'normal (N)', 1: 'stopped (F)', 2: 'maintenance (M)', 3: 'manual (S)', 4: 'fault (D)', 5: 'calibration (C)', 6: 'over range (T)', 7: 'comm. error (B)',
    15: 'other flag', 16: 'not positioned', 17: 'bad time', 32: 'read failed', 33: 'timeout', 34: 'device offline', 35: 'invalid value', 36: 'not polled yet' },
  sp: { alarm1: 'Alarm 1', alarm2: 'Alarm 2', hi: 'High', hihi: 'High-high', lo: 'Low', lolo: 'Low-low', limit: 'Limit', deadband: 'Deadband' },
  act: { ack: 'Acknowledge', clear: 'Clear', close: 'Close', comment: 'Comment', assign: 'Assign', silence: 'Silence' },
  done: { ack: 'Acknowledged', clear: 'Cleared', close: 'Closed', comment: 'Comment added', assign: 'Assigned', silence: 'Silence set' },
  silKind: { device: 'device', point: 'point', area: 'area', enterprise: 'enterprise', source: 'source' },
  dur: { '30m': '30 min', '2h': '2 h', '8h': '8 h', '24h': '24 h', '72h': '3 days', '7d': '7 days' },
  range: { '1h': '1 h', '6h': '6 h', '24h': '24 h', '7d': '7 d', '30d': '30 d' },
  dataKind: { rtd: 'Real-time', min: 'Minute', hour: 'Hourly', day: 'Daily' },
  valarm: { stop_outside_lot: 'Stopped outside lot', restricted_zone: 'Restricted zone', off_route: 'Off route', speeding: 'Speeding', overstay: 'Overstay',
    silent: 'Terminal silent', terminal_emergency: 'Emergency', terminal_overspeed: 'Overspeed', terminal_fatigue: 'Fatigue', terminal_danger_warning: 'Danger warning',
    terminal_power_low: 'Power low', terminal_power_off: 'Power off', terminal_collision: 'Collision', terminal_rollover: 'Rollover' },
  dir: { in: 'in', out: 'out' },
  imp: { json: 'Park model JSON', devices: 'Device ledger CSV', points: 'Point ledger CSV' },
  setpoint: 'setpoint', agoS: '{n} s ago', agoM: '{n} min ago', agoH: '{n} h ago', agoD: '{n} d ago', never: 'never', parkOwned: 'Park', quality: 'Quality',
  noData: 'No data', items: 'items', loadMore: 'Load more', noAlarms: 'No alarms match', pickAlarm: 'Pick an alarm to see it and act on it',
  alarmDetail: 'Alarm', silences: 'Silences (maintenance)', target: 'Target', reason: 'Reason', expires: 'Expires', by: 'By', end: 'End', noSilences: 'No silences',
  allLevels: 'All levels', allEnterprises: 'All enterprises', allAreas: 'All areas', allKinds: 'All kinds', allStates: 'All states', from: 'From', to: 'To', today: 'Today', reset: 'Reset',
  startedAt: 'Started', source: 'Source', description: 'Description', assignee: 'Assignee', area: 'Area', point: 'Point', value: 'Value', acknowledgedAt: 'Acknowledged',
  clearedAt: 'Cleared', flags: 'Flags', silenced: 'silenced', inhibited: 'inhibited', flapping: 'flapping', grouped: 'grouped', history: 'History',
  commentPh: 'Comment / note', assigneePh: 'Assignee', reasonPh: 'Reason (required)', reasonRequired: 'A reason is required',
  sampledAt: 'Sampled', series: 'Series', device: 'Device', id: 'ID', protocol: 'Protocol', lastSeen: 'Last seen', location: 'Location', setpoints: 'Setpoints',
  openAlarms: 'Open alarms', qualityCodes: 'Quality codes', badQuality: 'bad quality', downsampled: 'Downsampled by the server: one point per {s} s', rawSamples: 'Raw samples: {n}',
  notFound: 'Not found', noAccess: 'No access, or no such object', stDevices: 'Devices', stPoints: 'Points', stHazards: 'Major hazards', basicInfo: 'Details',
  uscc: 'Credit code', industry: 'Industry', contact: 'Contact', installations: 'Installations and major hazards', name: 'Name', majorHazard: 'Major hazard', grade: 'grade',
  areas: 'Areas', pointsList: 'Points', time: 'Time', filterPh: 'Filter…', stations: 'Stations', pollutant: 'Pollutant', code: 'Code', limit: 'Limit', flag: 'Flag', receipt: 'Receipt', receiptTitle: 'Download the archive receipt of the frame that carried this value (c2sp tlog-proof, checkable offline)',
  envData: 'Data', exceedances: 'Exceedances', missingData: 'Missing data', missingData24h: 'Missing data, last 24 h (samples per hour)', noExceed: 'No exceedances',
  station: 'Station', samples: 'samples', missing: 'missing', partial: 'partial', complete: 'complete', missingHours: 'Hours missing',
  liveMap: 'Live positions', trackReplay: 'Track replay', pickVehicle: 'Pick a vehicle', play: 'Play', vehicleList: 'Vehicles', entryLog: 'Entry/exit log', cargo: 'Cargo',
  hazmat: 'HZ', locate: 'Locate', locateSent: 'Position request sent', total: 'Total', direction: 'Direction', gate: 'Gate', alarm: 'Alarm', since: 'Since', detail: 'Detail',
  deviceList: 'Devices', quarantineHj212: 'Unknown HJ 212 devices', quarantineJt808: 'Unknown vehicle terminals', peer: 'Peer', frames: 'Frames', register: 'Register',
  noQuarantine: 'None waiting', registerDevice: 'Register device', namePh: 'Device name', cancel: 'Cancel', registered: 'Registered', phone: 'Terminal phone',
  users: 'Users and roles', displayName: 'Display name', role: 'Role', lastLogin: 'Last login', delete: 'Delete', deleteUser: 'Delete user', addUser: 'Add user',
  pickEnterprise: 'Pick an enterprise', add: 'Add', saved: 'Saved', modelImport: 'Model import', replaceAll: 'Replace all (delete what is not mentioned)', import: 'Import',
  importOk: 'Imported', exportModel: 'Export the model', devicesUnit: 'devices', hazardUnit: 'major hazards', kindLabel: 'Kind', rangeLabel: 'Range', levelLabel: 'Level', stateLabel: 'State', ruleLabel: 'Rule',
};

export const messages = { 'zh-CN': zh, en };
export const lang = ref(localStorage.getItem('pw_lang') === 'en' ? 'en' : 'zh-CN');

export function setLang(l) {
  lang.value = l;
  localStorage.setItem('pw_lang', l);
  document.documentElement.lang = l;
}

function lookup(dict, key) {
  if (typeof dict[key] === 'string') return dict[key];
  let o = dict;
  for (const part of key.split('.')) {
    if (o == null || typeof o !== 'object' || !(part in o)) return undefined;
    o = o[part];
  }
  return typeof o === 'string' ? o : undefined;
}

export function t(key) {
  return lookup(messages[lang.value], key) ?? lookup(zh, key) ?? key;
}
