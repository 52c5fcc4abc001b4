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
  ['sifa', '司法'],
  ['other', '其他'],
];
export const SOURCE_NAME = Object.fromEntries(SOURCES);
export const SOURCE_SHORT = {
  '110': '110', '12345': '12345', xinfang: '信访', maodiao: '矛调',
  grid: '四平台', station: '站所', sifa: '司法', other: '其他',
};
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
