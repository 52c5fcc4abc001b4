// What an incident's record says beyond where and when: its classification (group · leaf, confidence,
// method, tags, suggested lead department), where it came from (source system and its own category),
// the masked caller and, for an address-located point, how sure the geocoder was.
// Shared by the wall (detail popup, unlocated panel, list rows) and the console (leaf name in the queue).
import { TAG_LABEL, TAG_TONE, SOURCE_NAME, PRIORITY_NAME } from './config.js';

export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// ---------------------------------------------------------------- taxonomy (fetched once per page)
const tagLabels = { ...TAG_LABEL };
let taxonomyPromise = null;
export const taxonomy = { loaded: false, groups: [], sources: [], error: null };

/** GET /api/v1/taxonomy once; resolves to the taxonomy (never rejects: labels fall back to config.js). */
export function loadTaxonomy() {
  if (!taxonomyPromise) {
    taxonomyPromise = fetch('./api/v1/taxonomy', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((t) => {
        for (const { code, label } of Array.isArray(t.tags) ? t.tags : []) if (code && label) tagLabels[code] = label;
        taxonomy.groups = Array.isArray(t.groups) ? t.groups : [];
        taxonomy.sources = Array.isArray(t.sources) ? t.sources : [];
        taxonomy.loaded = true;
        return taxonomy;
      })
      .catch((e) => { taxonomy.error = String(e?.message || e); console.warn('[taxonomy]', taxonomy.error); return taxonomy; });
  }
  return taxonomyPromise;
}

export const tagLabel = (code) => tagLabels[code] || code;

/** The incident's tag codes (flat copy first, else the classification's). */
export function tagsOf(p) {
  const t = Array.isArray(p?.tags) && p.tags.length ? p.tags : p?.classification?.tags;
  return Array.isArray(t) ? t.filter((x) => typeof x === 'string' && x) : [];
}

/** Small Chinese chips for the tags; `max` shows the first N and "+k" for the rest. */
export function tagChips(tags, { max = Infinity } = {}) {
  if (!tags.length) return '';
  const shown = tags.slice(0, max);
  const more = tags.length - shown.length;
  return `<span class="tags">${shown.map((c) => `<span class="tag tag-${TAG_TONE[c] || 'plain'}" data-tag="${esc(c)}">${esc(tagLabel(c))}</span>`).join('')}${more > 0 ? `<span class="tag tag-more" title="${esc(tags.slice(max).map(tagLabel).join('、'))}">+${more}</span>` : ''}</span>`;
}

// ---------------------------------------------------------------- small accessors
export const leafOf = (p) => p?.leaf_name || p?.classification?.leaf_name || '';
export const groupOf = (p) => p?.group_name || p?.classification?.group_name || '';
export const leadOf = (p) => p?.lead_department || p?.classification?.lead_department || '';
export const isLocated = (f) => f?.properties?.located !== false && Array.isArray(f?.geometry?.coordinates)
  && Number.isFinite(f.geometry.coordinates[0]) && Number.isFinite(f.geometry.coordinates[1]);
export const pct = (x) => (Number.isFinite(x) ? `${Math.round(Math.max(0, Math.min(1, x)) * 100)}%` : '');
export const sourceLabel = (p) => p?.source_label || SOURCE_NAME[p?.source] || p?.source || '其他';
export const METHOD_LABEL = { source_code: '来源编码', model: '模型' };

/** The first party with a masked phone (caller first), as "138****1234（张*）". */
export function callerText(p) {
  const parties = Array.isArray(p?.parties) ? p.parties : [];
  const c = parties.find((x) => x?.role === 'caller' && (x.phone_masked || x.name_masked))
    || parties.find((x) => x?.phone_masked);
  if (!c) return '';
  const phone = c.phone_masked || '';
  const name = c.name_masked || '';
  return phone && name ? `${phone}（${name}）` : phone || name;
}

/** "地址定位：院桥镇 · 鉴洋湖村（置信度 60%）" for an address-located point, else ''. */
export function geocodeText(p) {
  const g = p?.geocode;
  if (!g || !g.matched) return '';
  return `地址定位：${g.matched}${Number.isFinite(g.confidence) ? `（置信度 ${pct(g.confidence)}）` : ''}`;
}

/**
 * The detail card's HTML (popup on the wall's map, or the card of an unlocated incident).
 * fmtTime: Date → "hh:mm:ss".
 */
export function detailHtml(f, { fmtTime, assigned = '', repeat = '' } = {}) {
  const p = f.properties || {};
  const c = p.classification || {};
  const j = p.jurisdiction || {};
  const t = p.received_at || p.reported_at;
  const d = t ? new Date(t) : null;
  const when = d && !Number.isNaN(d.getTime()) && fmtTime ? fmtTime(d) : '';
  const leaf = leafOf(p);
  const group = groupOf(p);
  const conf = pct(c.confidence);
  const method = METHOD_LABEL[c.method] || '';
  const tags = tagsOf(p);
  const lead = leadOf(p);
  const caller = callerText(p);
  const geo = geocodeText(p);
  const located = isLocated(f);
  const runners = (Array.isArray(c.runners_up) ? c.runners_up : []).filter((r) => r && r.leaf_name);
  const srcCat = p.source_category ? ` · ${esc(p.source_category)}` : '';
  const jur = [j.township_name, j.station_name, j.grid_name, j.post_name].filter(Boolean).map(esc).join(' · ');
  const row = (k, v, cls = '') => (v ? `<div class="dt-row${cls ? ` ${cls}` : ''}"><span class="dt-k">${k}</span><span class="dt-v">${v}</span></div>` : '');
  return `<div class="inc-detail" data-id="${esc(f.id)}">
    <div class="dt-hd">
      <span class="prio">${p.priority ? esc(PRIORITY_NAME[p.priority] || `P${p.priority}`) : '未定级'}</span>
      <span class="dt-title">${esc(leaf || p.category || '未分类')}</span>
      ${p.demo ? '<span class="badge demo">演示</span>' : ''}
      ${assigned}
      <span class="dt-time">${esc(when)}</span>
    </div>
    ${row('事件分类', group || leaf ? `<span class="dt-class">${esc(group)}${group && leaf ? ' · ' : ''}${esc(leaf)}</span>${conf ? `<span class="dt-conf" title="分类置信度">${esc(conf)}${method ? ` · ${esc(method)}` : ''}</span>` : ''}` : '<span class="dt-muted">未分类</span>')}
    ${runners.length ? row('备选', `<span class="dt-muted">${runners.map((r) => `${esc(r.leaf_name)} ${esc(pct(r.confidence))}`).join('，')}</span>`) : ''}
    ${tags.length ? row('标签', tagChips(tags)) : ''}
    ${row('建议牵头', lead ? `<b class="dt-lead">${esc(lead)}</b>` : '')}
    ${repeat ? row('重复来电', repeat, 'dt-repeat-row') : ''}
    ${row('来源', `${esc(sourceLabel(p))}${srcCat}${p.source_id ? ` <span class="dt-muted">#${esc(p.source_id)}</span>` : ''}`)}
    ${row('报警人', caller ? esc(caller) : '')}
    ${row('地址', esc(p.address || ''))}
    ${located ? (geo ? `<div class="dt-geo">${esc(geo)}<span class="dt-muted">，点位为近似位置</span></div>` : '')
    : '<div class="dt-geo dt-unloc">未定位：地址无法自动定位，请人工核实位置</div>'}
    ${p.description ? `<div class="dt-desc">${esc(p.description)}</div>` : ''}
    ${row('辖区', jur)}
  </div>`;
}
