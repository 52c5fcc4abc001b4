// Palette and labels for the big screen. UX.md §2 marks the colours as a proposal:
// everything visual lives here so it can be changed in one place.
export const PALETTE = {
  background: '#051655',
  text: '#B7E1FF',
  chrome: '#2FD4FF',
  boundary: '#7DF9FF',
  townshipLine: '#3C8CE7',
  gridLine: '#5B8BD9',
  station: '#F8FAFC',
  post: '#A78BFA',
  priority: { 1: '#FF3B30', 2: '#FF8C00', 3: '#FFD60A', 4: '#3B82F6' },
  priorityNone: '#3B82F6',
};

// Township fills: muted navy/teal tints so that priority colours stay the loudest thing on the map.
export const TOWNSHIP_FILLS = ['#0d2a78', '#113489', '#0b3a6e', '#16307a', '#0f3f80', '#122c6b'];

export const SOURCES = [
  ['110', '110接处警'],
  ['12345', '12345热线'],
  ['xinfang', '信访'],
  ['maodiao', '矛调'],
  ['grid', '基层治理四平台'],
  ['station', '站所自建'],
  ['sensor', '物联感知'],
  ['eido', 'EIDO'],
  ['sifa', '司法'],
  ['other', '其他'],
];
export const SOURCE_NAME = Object.fromEntries(SOURCES);
export const SOURCE_SHORT = {
  '110': '110', '12345': '12345', xinfang: '信访', maodiao: '矛调',
  grid: '四平台', station: '站所', sensor: '物联', eido: 'EIDO', sifa: '司法', other: '其他',
};
// Labels of the wall's per-source counters (10 tiles, 5 a row: short enough not to be clipped).
export const SOURCE_COUNTER = {
  '110': '110接处警', '12345': '12345热线', xinfang: '信访', maodiao: '矛调', grid: '四平台',
  station: '站所自建', sensor: '物联感知', eido: 'EIDO', sifa: '司法', other: '其他',
};

// Classification tags (GET /api/v1/taxonomy `tags` wins; this is the fallback until it answers).
export const TAG_LABEL = {
  elderly: '涉老年人', minor: '涉未成年人', disabled: '涉残疾人', mental: '涉精神障碍',
  repeat_caller: '重复报警/反映', enterprise: '涉企', weapon: '涉刀械枪支', injury: '有人受伤',
  night: '夜间', group: '涉多人/群体', threat_extreme: '扬言极端', domestic: '涉家庭/婚恋', drunk: '涉酒',
};
// Chip tone per tag: danger (red), care (vulnerable people, amber), plain (slate).
export const TAG_TONE = {
  weapon: 'danger', injury: 'danger', threat_extreme: 'danger', group: 'danger',
  elderly: 'care', minor: 'care', disabled: 'care', mental: 'care', domestic: 'care', repeat_caller: 'care',
};
// Unlocated incidents (未定位事件): how far back and how many the wall fetches and keeps.
export const UNLOCATED_SINCE_MS = 72 * 3600 * 1000;
export const UNLOCATED_MAX = 200;
export const PRIORITY_NAME = { 1: '一级', 2: '二级', 3: '三级', 4: '四级' };

// District bbox [w, s, e, n]; replaced by the boundary layer's own bbox once loaded.
export const DISTRICT_BBOX = [120.79, 28.47, 121.37, 28.73];

export const LAYERS = ['boundary', 'townships', 'grids', 'stations', 'posts'];

export const MAX_INCIDENTS = 2000;   // kept on the map / in memory
export const MAX_LIST_ROWS = 80;     // rows rendered in the right column
export const FLUSH_MS = 250;         // map flush ≤ 4 Hz
export const PANEL_MS = 1000;        // panels (counts, freshness) at 1 Hz
export const HEARTBEAT_TIMEOUT_MS = 35000; // no message for this long → socket presumed dead
export const OFFLINE_AFTER_MS = 20000;     // reconnecting for this long → "离线"
export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30000;
export const FLASH_MS = 8000;        // new-arrival pulse duration
export const TZ = 'Asia/Shanghai';

// ---------------------------------------------------------------- responders (警力) and dispatch
// Status colours follow UX.md §2 except 已派 (dispatched), which the dispatch feature asked to be blue.
export const RESPONDER_STATUS = [
  // code, label, colour, shown on the wall
  ['available', '空闲', '#22C55E', true],
  ['dispatched', '已派', '#3B82F6', true],
  ['en_route', '赶赴', '#38BDF8', true],
  ['on_scene', '到场', '#E879F9', true],
  ['busy', '忙碌', '#94A3B8', true],
  ['off_duty', '下线', '#475569', false],
];
export const RESPONDER_STATUS_COLOR = Object.fromEntries(RESPONDER_STATUS.map(([k, , c]) => [k, c]));
export const RESPONDER_STATUS_LABEL = Object.fromEntries(RESPONDER_STATUS.map(([k, l]) => [k, l]));
// Stale fixes: desaturated fill (per status, mixed towards slate) + dashed ring icon.
export const RESPONDER_STALE_COLOR = {
  available: '#5F8A6E', dispatched: '#5B6F93', en_route: '#5F8598', on_scene: '#8C6E93', busy: '#6B7280', off_duty: '#475569',
};
export const RESPONDER_TYPES = [
  // code, label, one-character glyph (drawn client-side into an icon, no glyph server), shape class
  ['police', '民警', '警', 'person'],
  ['patrol_car', '巡逻车', '车', 'vehicle'],
  ['auxiliary', '辅警', '辅', 'person'],
  ['grid', '网格员', '网', 'small'],
  ['lawyer', '律师', '律', 'person'],
  ['prosecutor', '检察官', '检', 'person'],
  ['cadre', '村干部', '村', 'small'],
  ['mediator', '调解员', '调', 'small'],
  ['fire', '消防', '消', 'vehicle'],
  ['other', '其他', '他', 'person'],
];
export const RESPONDER_TYPE_LABEL = Object.fromEntries(RESPONDER_TYPES.map(([k, l]) => [k, l]));
export const ASSIGNMENT_STATUS_LABEL = {
  dispatched: '已派待确认', acked: '已确认', declined: '已拒绝', timed_out: '超时未确认', cleared: '已完成',
};
export const OPEN_ASSIGNMENT = new Set(['dispatched', 'acked']);
export const ASSIGNED_RING = '#F8FAFC';   // "已派" ring around an incident (white: not a status or priority colour)
export const RANK_COLORS = ['#F8FAFC', '#E2E8F0', '#CBD5E1', '#94A3B8', '#94A3B8']; // candidate lines, rank 1..5
export const GLYPH_MINZOOM = 13;         // type glyphs on responders only when zoomed in
export const NOTICE_MS = 20000;          // re-offer / decline notices on the wall

// ---------------------------------------------------------------- repeat calls and display aggregation (issue 7)
// Repeat clusters (one event, many calls) are pink rings with ×N: pink is no priority and no responder status.
export const REPEAT_RING = '#FF6BD6';
export const REPEAT_MAX = 300;           // repeat clusters held / drawn (newest first in the snapshot)
// Display aggregation (count bubbles) is a different thing from repeat clusters: MapLibre's GeoJSON clustering
// (supercluster in its worker). The wall turns it on by itself once it holds AGG_AUTO_MIN located incidents;
// fewer are always drawn one by one. `?agg=on|off` forces it. Bubbles up to AGG_MAX_ZOOM, points above.
export const AGG_AUTO_MIN = 300;
export const AGG_RADIUS_PX = 40;
export const AGG_MIN_POINTS = 4;
export const AGG_MAX_ZOOM = 13;
export const CLUSTER_FAMILY_NAME = {
  noise: '噪声扰民', traffic: '交通事故', wage_debt: '欠薪欠款', dispute: '矛盾纠纷', nuisance: '长期滋扰',
  fire_disaster: '火灾灾害', crime_order: '治安刑事', missing: '人员走失', help: '求助', group: '群体事件', petition: '信访投诉',
  other: '其他',
};
export const CLUSTER_REASON_NAME = {
  opened: '首次来电', nearby: '时空相近', same_caller: '同一来电人', same_entity: '同一单位/地址', manual: '人工归并',
};
export const CLUSTER_LINK_NAME = {
  REPLACING: '合并了', REPLACED: '已并入', SPLIT: '拆分自', PARENT: '拆出', CHILD: '子簇', RELATED: '相关',
};
