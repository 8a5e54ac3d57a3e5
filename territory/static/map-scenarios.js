// The scenario and year selector of map.html, in the page only when the run has scenarios
// (territory/mapping.py puts it before map.js, which calls it with its window.territoryMap
// before building any polygon: the opening view is drawn once, with the projection). The polygons
// show, for the chosen scenario and year, the projected footprint per inhabitant or its change
// vs the baseline (scenarios.csv), with classes fixed across scenarios and years so that colours
// compare; each popup gains the territory's trajectory. Choosing an indicator in the indicator
// list leaves the projection; touching the selector comes back to it. Labels and units come from
// the column catalogue (data.columns); scenario titles from the scenario files.
(window.territoryPlugins = window.territoryPlugins || []).push(function(tm) {
var data = tm.data, S = data.scenarios, el = tm.el, svg = tm.svg;
var nS = S.names.length, nY = S.years.length;
// the view: on (the projection is painted), scenario and year indexes, kind (per: footprint per
// inhabitant, gap: change vs the baseline)
var state = {on: true, s: 0, y: 0, kind: 'per'}, box = null;
function projections(level) {
  var p = S.levels[level.layer];
  if (!p) return null;
  if (!p.decoded) {
    var n = level.codes.length;
    p.per = tm.series(p.per, n); p.gap = tm.series(p.gap, n); p.decoded = true;
  }
  return p;
}
// the baseline's change vs itself is 0 (not sent)
function value(level, kind, i, s, y) {
  var p = projections(level);
  if (!p || p.per.missing[i]) return null;
  if (kind === 'gap') return s === 0 ? 0 : p.gap.values[(i * (nS - 1) + s - 1) * nY + y];
  return p.per.values[(i * nS + s) * nY + y];
}
function column(kind) { return kind === 'gap' ? S.gap : S.column; }
function shown(level) {
  var out = new Array(level.codes.length);
  for (var i = 0; i < out.length; i++) out[i] = value(level, state.kind, i, state.s, state.y);
  return out;
}
// paint every level with the chosen projection and its level's fixed classes (at opening no
// polygon is built yet: map.js builds them with these colours)
function apply() {
  var col = column(state.kind), m = tm.meta(col);
  state.on = true;
  data.indicator = col; data.indicatorLabel = m.label; data.unit = m.unit;
  tm.hooks.values = shown;
  var picker = document.querySelector('.territory-indicator select');
  if (picker) picker.selectedIndex = -1;
  if (box) L.DomUtil.removeClass(box, 'territory-scenario-off');
  tm.groups.forEach(function(group) {
    var lvl = tm.decodeLevel(group.territoryLevel), p = projections(lvl);
    if (!p) return;
    var c = p.classes[state.kind];
    lvl.breaks = c.breaks; lvl.colours = c.colours; lvl.spread = c.spread; lvl.range = c.range;
    if (!group.territoryBuilt) return;
    var values = shown(lvl);
    group.eachLayer(function(poly) { poly.setStyle({fillColor: tm.colour(values[poly.featureIndex], lvl)}); });
    if (tm.map.hasLayer(group)) tm.legend.update(lvl);
  });
}
// an indicator chosen in the list: the projection is left
tm.hooks.indicator.push(function() {
  state.on = false; tm.hooks.values = null;
  if (box) L.DomUtil.addClass(box, 'territory-scenario-off');
});
tm.hooks.legend.push(function(div) {
  if (!state.on) return;
  var text = S.titles[state.s] + ', ' + S.years[state.y] + ' · mêmes classes pour tous les scénarios et années';
  if (state.kind === 'per') text += ' · population de l’année de base';
  div.appendChild(el('div', text, 'territory-legend-scenario'));
});
// ---- the selector
function select(labelText, cls, options, chosen, changed) {
  var label = el('label', labelText + ' '), s = document.createElement('select');
  s.className = cls;
  options.forEach(function(text, k) { var o = el('option', text); o.value = String(k); s.appendChild(o); });
  s.value = String(chosen);
  s.addEventListener('change', function() { changed(Number(s.value)); apply(); });
  label.appendChild(s);
  return label;
}
var control = L.control({position: 'topright'});
control.onAdd = function() {
  box = L.DomUtil.create('div', 'territory-scenario');
  var per = tm.meta(S.column), gap = tm.meta(S.gap);
  box.appendChild(select(tm.meta('scenario').label, 'territory-scenario-select', S.titles, state.s,
    function(k) { state.s = k; }));
  box.appendChild(select(tm.meta('year').label, 'territory-year-select', S.years.map(String), state.y,
    function(k) { state.y = k; }));
  box.appendChild(select('Afficher', 'territory-scenario-kind',
    [per.label + ' (' + per.unit + ')', gap.label + ' (' + gap.unit + ')'], 0,
    function(k) { state.kind = k ? 'gap' : 'per'; }));
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  return box;
};
control.addTo(tm.map);
// ---- the popup's trajectory: baseline and chosen scenario, 2025 -> 2050, per inhabitant
function sparkline(base, chosen, y) {
  var W = 280, H = 56, pad = 6, all = base.concat(chosen);
  var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all), span = hi > lo ? hi - lo : 1;
  function px(k) { return pad + k * (W - 2 * pad) / Math.max(1, nY - 1); }
  function py(v) { return H - pad - (v - lo) / span * (H - 2 * pad); }
  function points(vs) { return vs.map(function(v, k) { return px(k).toFixed(1) + ',' + py(v).toFixed(1); }).join(' '); }
  var s = svg('svg', {width: W, height: H, role: 'img', 'class': 'territory-sparkline'});
  s.appendChild(svg('line', {x1: px(y), x2: px(y), y1: 0, y2: H, stroke: '#bbbbbb'}));
  s.appendChild(svg('polyline', {points: points(base), fill: 'none', stroke: '#969696', 'stroke-width': 2, 'stroke-dasharray': '4 2'}));
  if (chosen !== base) s.appendChild(svg('polyline', {points: points(chosen), fill: 'none', stroke: '#e6550d', 'stroke-width': 2}));
  s.appendChild(svg('circle', {cx: px(y), cy: py(chosen[y]), r: 3, fill: '#e6550d'}));
  return s;
}
tm.hooks.popup.push(function(level, i) {
  if (value(level, 'per', i, 0, 0) === null) return null;
  var s = state.s, y = state.y, per = column('per'), m = tm.meta(per), g = tm.meta(S.gap);
  var base = [], chosen = [], gaps = [];
  for (var k = 0; k < nY; k++) {
    base.push(value(level, 'per', i, 0, k)); chosen.push(value(level, 'per', i, s, k)); gaps.push(value(level, 'gap', i, s, k));
  }
  var div = el('div', undefined, 'territory-trajectory');
  div.appendChild(el('h3', 'Trajectoire ' + S.years[0] + '–' + S.years[nY - 1] + ' : ' + S.titles[s]));
  div.appendChild(sparkline(base, s ? chosen : base, y));
  var t = document.createElement('table'), head = document.createElement('tr');
  [tm.meta('year').label, S.titles[0]].concat(s ? [S.titles[s], g.label] : []).forEach(function(text) { head.appendChild(el('th', text)); });
  t.appendChild(head);
  for (k = 0; k < nY; k++) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-year', S.years[k]);
    if (k === y) tr.className = 'territory-trajectory-chosen';
    tr.appendChild(el('td', String(S.years[k])));
    tr.appendChild(el('td', tm.amount(per, base[k]), 'n'));
    if (s) { tr.appendChild(el('td', tm.amount(per, chosen[k]), 'n')); tr.appendChild(el('td', tm.signedPct(gaps[k]), 'n')); }
    t.appendChild(tr);
  }
  div.appendChild(t);
  div.appendChild(el('div', m.label + ' en ' + m.unit + ' (population de l’année de base)', 'territory-note'));
  if (s) div.appendChild(el('div', g.label + ' en ' + S.years[y] + ' : ' + tm.signedPct(gaps[y]), 'territory-trajectory-gap'));
  return div;
});
apply();
tm.scenarios = {state: state, apply: apply, value: value};
});
