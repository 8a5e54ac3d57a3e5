// The interactive map of territory (map.html): one canvas-rendered layer per administrative
// level, decoded from the page's JSON data block (territory/mapping.py writes it), plus the
// legend, title, indicator switch, territory search, overseas insets and registry point layers.
// Labels are French;
// every name is inserted as text (never as HTML). Leaflet is loaded before this script.
(function() {
// the data block: the JSON territory/mapping.py writes, gzip-compressed and in base64
// (mapping.encode_data), decoded by fflate (inlined before this script) in one go: all of
// France's 3.4 MB in about 50 ms
function readData(block) {
  var text = atob(block.textContent), bytes = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return JSON.parse(fflate.strFromU8(fflate.gunzipSync(bytes)));
}
var data = readData(document.getElementById('territory-data'));
var map = L.map('territory-map', {center: [46.6, 2.4], zoom: 6, zoomControl: true, preferCanvas: true});
L.control.scale().addTo(map);
var fmt = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 0});
var fmt1 = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 1});
var renderer = L.canvas({padding: 0.1, tolerance: 2});
// registry points are drawn above the polygons, in their own pane, as SVG (few elements at a
// time: clusters): a second canvas on top would take the polygons' mouse events
map.createPane('territoryPoints').style.zIndex = 450;
var pointRenderer = L.svg({pane: 'territoryPoints', padding: 0.2});
function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function svg(tag, attrs) { var e = document.createElementNS('http://www.w3.org/2000/svg', tag); for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
// integers arrive as strings (mapping.encode_varints): zigzag, 5 bits per character
var DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', LUT = new Uint8Array(128);
for (var q = 0; q < 64; q++) LUT[DIGITS.charCodeAt(q)] = q;
function varints(s) {
  // a typed array sized for the worst case (one character per number): no growth, no garbage
  var out = new Float64Array(s.length), n = 0, v = 0, m = 1;
  for (var i = 0; i < s.length; i++) {
    var c = LUT[s.charCodeAt(i)];
    v += (c & 31) * m;
    if (c & 32) m *= 32; else { out[n++] = v % 2 ? -(v + 1) / 2 : v / 2; v = 0; m = 1; }
  }
  return out.subarray(0, n);
}
// columns arrive as one constant, or distinct values and indexes, or integers and a scale
function decodeColumn(c, n) {
  var out = new Array(n), i;
  if ('c' in c) { for (i = 0; i < n; i++) out[i] = c.c; }
  else if ('u' in c) { var k = varints(c.i); for (i = 0; i < n; i++) out[i] = c.u[k[i]]; }
  else { var v = varints(c.v); for (i = 0; i < n; i++) out[i] = v[i] / c.s; }
  (c.n || []).forEach(function(j) { out[j] = null; });
  return out;
}
// rows of numbers, one per territory (mapping.encode_series): each row's first value then the
// differences to the previous one; rows listed in n are missing
function series(c, n) {
  var v = varints(c.v), k = c.k, values = new Float64Array(n * k), missing = new Uint8Array(n);
  for (var i = 0; i < n; i++) {
    for (var j = 0, x = 0; j < k; j++) { x += v[i * k + j]; values[i * k + j] = x / c.s; }
  }
  (c.n || []).forEach(function(j) { missing[j] = 1; });
  return {k: k, values: values, missing: missing, decoded: true};
}
// what other scripts of the page (static/map-scenarios.js) plug in: the values the polygons
// are painted with (null: the indicator's), blocks added to popups and to the legend, and
// functions told when an indicator is chosen
var hooks = {values: null, popup: [], legend: [], indicator: []};
// a level's columns are decoded when it is first used (drawn, searched or recoloured)
function decodeLevel(level) {
  if (level.decoded) return level;
  var n = level.codes.length;
  for (var k in level.values) level.values[k] = decodeColumn(level.values[k], n);
  for (var t in level.texts) level.texts[t] = decodeColumn(level.texts[t], n);
  level.decoded = true;
  return level;
}
function colour(v, level) {
  for (var i = 0; i < level.breaks.length; i++) { if (v <= level.breaks[i]) return level.colours[i]; }
  return level.colours[level.breaks.length];
}
function decode(g) {
  // coordinates are deltas: accumulated in place, then read ring by ring into LatLngs
  var xy = varints(g.d), x = 0, y = 0, scale = data.scale;
  for (var i = 0; i < xy.length; i += 2) { x += xy[i]; y += xy[i + 1]; xy[i] = x / scale; xy[i + 1] = y / scale; }
  var fl = varints(g.f), pl = varints(g.p), rl = varints(g.r);
  var features = new Array(fl.length), p = 0, r = 0, k = 0;
  for (var f = 0; f < fl.length; f++) {
    var polys = new Array(fl[f]);
    for (var a = 0; a < polys.length; a++, p++) {
      var rings = new Array(pl[p]);
      for (var b = 0; b < rings.length; b++, r++) {
        var ring = new Array(rl[r]);
        for (var c = 0; c < ring.length; c++, k++) ring[c] = new L.LatLng(xy[2 * k + 1], xy[2 * k]);
        rings[b] = ring;
      }
      polys[a] = rings;
    }
    features[f] = polys;
  }
  return features;
}
function row(label, value) {
  var tr = document.createElement('tr'), a = el('td', label), b = el('td', value, 'n');
  tr.appendChild(a); tr.appendChild(b); return tr;
}
function val(level, column, i) { var c = level.values[column]; return c ? (c[i] || 0) : 0; }
// labels, units and decimals of the columns come from the column catalogue (data/columns.toml),
// which columns the tooltip and popup show from the map definition's [popup] (data.popup)
var POPUP = data.popup || {}, COLUMNS = data.columns || {}, POPULATION = data.population, formats = {};
function meta(column) { return COLUMNS[column] || {label: column, short: column, unit: '', decimals: 2}; }
function formatter(decimals) {
  var d = decimals === null || decimals === undefined ? 2 : decimals;
  if (!formats[d]) formats[d] = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: d});
  return formats[d];
}
// a value with at most its decimals, none from 100 on (a tooltip reads "12 345 tCO₂e/an")
function amount(column, v) { return (Math.abs(v) >= 100 ? fmt : formatter(meta(column).decimals)).format(v); }
function withUnit(column, v) { var u = meta(column).unit; return amount(column, v) + (u ? ' ' + u : ''); }
function has(level, column) { return column in level.values; }
// the parts of the footprint (breakdown) and where it is emitted: [column, short label, colour]
function coloured(table) { return Object.keys(table || {}).map(function(c) { return [c, meta(c).short, table[c]]; }); }
var PARTS = coloured(POPUP.parts), PLACES = coloured(POPUP.places);
function partsTotal(level, i) { return PARTS.reduce(function(t, p) { return t + val(level, p[0], i); }, 0); }
function share(level, column, i) {
  var total = partsTotal(level, i);
  if (!(column in (POPUP.parts || {})) || !(total > 0)) return '';
  return ' (' + fmt.format(100 * val(level, column, i) / total) + ' %)';
}
function tooltipContent(level, i) {
  var div = el('div', undefined, 'territory-tooltip');
  div.appendChild(el('strong', level.names[i] + ' (' + level.codes[i] + ')'));
  var t = document.createElement('table');
  (POPUP.tooltip || []).filter(function(c) { return has(level, c); }).forEach(function(c) {
    t.appendChild(row(meta(c).short, withUnit(c, val(level, c, i)) + share(level, c, i)));
  });
  div.appendChild(t);
  div.appendChild(el('div', 'Cliquer pour le détail', 'territory-note'));
  return div;
}
// ---- popups: breakdown chart (inline SVG) and comparison with peers
function barChart(items, width) {
  // one horizontal bar per item: [label, value, colour]; values scaled to the largest
  var max = Math.max.apply(null, items.map(function(x) { return x[1]; }).concat([1e-9]));
  var h = 18, s = svg('svg', {width: width, height: items.length * h + 2, role: 'img'});
  // room for the longest value label after its bar (about 6.6 px a character at this size)
  var text = Math.max.apply(null, items.map(function(x) { return String(x[3]).length * 6.6; }));
  var room = Math.max(30, width - 118 - text);
  items.forEach(function(item, k) {
    var w = Math.max(1, Math.round(room * item[1] / max));
    var label = svg('text', {x: 0, y: k * h + 13}); label.textContent = item[0]; s.appendChild(label);
    s.appendChild(svg('rect', {x: 110, y: k * h + 3, width: w, height: h - 6, fill: item[2]}));
    var v = svg('text', {x: 114 + w, y: k * h + 13}); v.textContent = item[3]; s.appendChild(v);
  });
  return s;
}
function stackedBar(level, i, width) {
  var total = partsTotal(level, i);
  var s = svg('svg', {width: width, height: 22, role: 'img', 'class': 'territory-stack'}), x = 0;
  PARTS.forEach(function(p) {
    var w = total > 0 ? width * val(level, p[0], i) / total : 0;
    var r = svg('rect', {x: x, y: 2, width: w, height: 18, fill: p[2]});
    var title = svg('title', {}); title.textContent = p[1] + ' : ' + withUnit(p[0], val(level, p[0], i));
    r.appendChild(title); s.appendChild(r); x += w;
  });
  return s;
}
var ranks = {};
function levelRank(level, i) {
  // rank by footprint per inhabitant among the inhabited territories of the level (1 = lowest)
  if (!ranks[level.layer]) {
    var v = level.values[POPUP.compared], pop = level.values[POPULATION], idx = [];
    for (var k = 0; k < v.length; k++) if (pop[k] > 0) idx.push(k);
    idx.sort(function(a, b) { return v[a] - v[b]; });
    var rank = {}; idx.forEach(function(k, r) { rank[k] = r + 1; });
    var mid = idx.length ? (idx.length % 2 ? v[idx[(idx.length - 1) / 2]] : (v[idx[idx.length / 2 - 1]] + v[idx[idx.length / 2]]) / 2) : 0;
    ranks[level.layer] = {rank: rank, n: idx.length, median: mid};
  }
  var r = ranks[level.layer];
  return {rank: r.rank[i], n: r.n, median: r.median};
}
// ---- why a commune differs from the national average: its gap, then each local driver's
// effect ([popup] national_gap and [[popup.drivers]] of the map definition), in % of the
// national average per inhabitant (level.national, from mapping.py)
var fmtPct = new Intl.NumberFormat('fr-FR', {minimumFractionDigits: 1, maximumFractionDigits: 1});
// quoted values are estimates: four significant digits at most ("158 600")
var fmtQuoted = new Intl.NumberFormat('fr-FR', {maximumSignificantDigits: 4});
function signedPct(v) {
  var r = Math.round(v * 10) / 10;
  return (r > 0 ? '+' : r < 0 ? '\u2212' : '') + fmtPct.format(Math.abs(r)) + ' %';
}
function known(level, column, i) { var c = level.values[column]; return c !== undefined && c[i] !== null && c[i] !== undefined; }
function lowerFirst(s) { return s.charAt(0).toLowerCase() + s.slice(1); }
function driverLabel(level, driver, i) {
  var effect = level.values[driver.effect][i];
  var name = effect > 0 && driver.more ? driver.more : effect < 0 && driver.less ? driver.less : meta(driver.effect).short;
  if (!driver.value || !known(level, driver.value, i)) return name;
  var quoted = (driver.value_text || '{value} {unit}').replace('{value}', fmtQuoted.format(level.values[driver.value][i]))
    .replace('{unit}', meta(driver.value).unit).trim();
  return name + ' (' + quoted + ')';
}
function driversBlock(level, i) {
  if (!POPUP.national_gap || level.national === undefined || !known(level, POPUP.national_gap, i)) return null;
  var div = el('div', undefined, 'territory-drivers');
  div.appendChild(el('h3', 'Pourquoi cet écart ?'));
  div.appendChild(el('div', signedPct(level.values[POPUP.national_gap][i]) + ' par rapport à la moyenne nationale ('
    + withUnit(POPUP.compared, level.national) + ')', 'territory-gap'));
  var threshold = POPUP.negligible_pct || 0;
  var drivers = (POPUP.drivers || []).filter(function(d) { return known(level, d.effect, i); });
  function effect(d) { return level.values[d.effect][i]; }
  var large = drivers.filter(function(d) { return Math.abs(effect(d)) >= threshold; })
    .sort(function(a, b) { return Math.abs(effect(b)) - Math.abs(effect(a)); });
  var small = drivers.filter(function(d) { return Math.abs(effect(d)) < threshold; });
  var list = el('ul');
  large.forEach(function(d) {
    list.appendChild(el('li', driverLabel(level, d, i) + ' : ' + signedPct(effect(d)), 'territory-driver'));
  });
  if (small.length) {
    list.appendChild(el('li', 'Autres facteurs négligeables (moins de ' + fmt1.format(threshold) + ' % chacun) : '
      + small.map(function(d) { return lowerFirst(meta(d.effect).short); }).join(', '), 'territory-driver territory-negligible'));
  }
  div.appendChild(list);
  div.appendChild(el('div', 'Effets en % de la moyenne nationale ; ils se combinent et ne s’additionnent pas exactement à l’écart.',
    'territory-note'));
  return div;
}
// ---- "when the electricity is used": use-phase emissions by month (rows) and local hour
// (columns) of hourly.csv, for the levels that have them (régions, départements, EPCI)
var HOURLY = data.hourly || null;
function monthName(m, form) {
  return new Intl.DateTimeFormat('fr-FR', {month: form, timeZone: 'UTC'}).format(new Date(Date.UTC(2001, m - 1, 15)));
}
function hourlyCells(level, i) {
  var h = HOURLY && HOURLY.levels[level.layer];
  if (!h) return null;
  if (!h.decoded) h = HOURLY.levels[level.layer] = series(h, level.codes.length);
  return h.missing[i] ? null : h.values.subarray(i * h.k, (i + 1) * h.k);
}
function heatMap(level, i) {
  var cells = hourlyCells(level, i);
  if (!cells) return null;
  var column = HOURLY.column, m = meta(column), lo = Infinity, hi = -Infinity, P = data.palette;
  for (var k = 0; k < cells.length; k++) { lo = Math.min(lo, cells[k]); hi = Math.max(hi, cells[k]); }
  var div = el('div', undefined, 'territory-heatmap');
  div.appendChild(el('h3', 'Quand l’électricité est consommée'));
  div.appendChild(el('div', m.label + ' (' + m.unit + ') par mois et heure locale, de ' + amount(column, lo) + ' (clair) à '
    + amount(column, hi) + ' (foncé) par case', 'territory-note'));
  var W = 10, H = 9, left = 34, top = 11, approx = {};
  HOURLY.approximated.forEach(function(x) { approx[x] = true; });
  var s = svg('svg', {width: left + 24 * W + 12, height: top + 12 * H + 2, role: 'img', 'class': 'territory-heatmap-grid'});
  [0, 6, 12, 18, 23].forEach(function(h) {
    var t = svg('text', {x: left + h * W + W / 2, y: 8, 'text-anchor': 'middle'}); t.textContent = h + ' h'; s.appendChild(t);
  });
  for (var month = 1; month <= 12; month++) {
    var label = svg('text', {x: left - 3, y: top + (month - 1) * H + H - 1, 'text-anchor': 'end'});
    label.textContent = monthName(month, 'short') + (approx[month] ? '*' : '');
    s.appendChild(label);
    for (var hour = 0; hour < 24; hour++) {
      var v = cells[(month - 1) * 24 + hour], c = hi > lo ? Math.min(P.length - 1, Math.floor((v - lo) / (hi - lo) * P.length)) : 0;
      var r = svg('rect', {x: left + hour * W, y: top + (month - 1) * H, width: W, height: H, fill: P[c], 'data-month': month, 'data-hour': hour});
      var title = svg('title', {}); title.textContent = monthName(month, 'long') + ', ' + hour + ' h : ' + withUnit(column, v);
      r.appendChild(title); s.appendChild(r);
    }
  }
  div.appendChild(s);
  var measured = HOURLY.measured.map(function(x) { return monthName(x, 'long'); }).join(', ');
  if (HOURLY.approximated.length) {
    div.appendChild(el('div', (measured ? 'Intensité carbone du réseau mesurée (RTE éCO2mix) en ' + measured + ' ; les autres mois (*) sont '
      : 'Intensité carbone du réseau : tous les mois (*) sont ') + 'approchés à partir des mois mesurés (voir la méthodologie).', 'territory-note'));
  }
  return div;
}
// popups are panned clear of the title and search box (top left) and of the legend
// and scroll when taller than the window (a territory's popup with its heat-map and trajectory)
var POPUP_OPTIONS = {maxWidth: 340, minWidth: 280, maxHeight: Math.max(300, window.innerHeight - 260),
  autoPanPaddingTopLeft: L.point(20, 190), autoPanPaddingBottomRight: L.point(20, 40)};
function keepNumbers(text) { return text.replace(/(\d) (\d)/g, '$1\u202f$2'); }
function popupContent(level, i) {
  var div = el('div', undefined, 'territory-popup'), per = val(level, POPUP.compared, i);
  div.appendChild(el('h2', level.names[i] + ' (' + level.codes[i] + ')'));
  var t = document.createElement('table');
  (POPUP.summary || []).filter(function(c) { return has(level, c); }).forEach(function(c) {
    t.appendChild(row(meta(c).label, withUnit(c, val(level, c, i))));
  });
  div.appendChild(t);
  var drivers = driversBlock(level, i);
  if (drivers) div.appendChild(drivers);
  if (PARTS.length) {
    var total = partsTotal(level, i);
    div.appendChild(el('h3', 'Répartition de l’empreinte'));
    div.appendChild(stackedBar(level, i, 280));
    var legendTable = document.createElement('table');
    PARTS.forEach(function(p) {
      var tr = row('', withUnit(p[0], val(level, p[0], i)) + ' (' + (total > 0 ? fmt.format(100 * val(level, p[0], i) / total) : '0') + ' %)');
      var sw = el('span', undefined, 'territory-swatch'); sw.style.background = p[2];
      tr.firstChild.appendChild(sw); tr.firstChild.appendChild(document.createTextNode(p[1]));
      legendTable.appendChild(tr);
    });
    div.appendChild(legendTable);
  }
  if (PLACES.length) {
    div.appendChild(el('h3', 'Où sont émis les gaz à effet de serre'));
    div.appendChild(barChart(PLACES.map(function(p) {
      return [p[1], val(level, p[0], i), p[2], withUnit(p[0], val(level, p[0], i))];
    }), 280));
  }
  var heat = heatMap(level, i);
  if (heat) div.appendChild(heat);
  var registry = (POPUP.equipment || []).filter(function(c) { return val(level, c, i) > 0; });
  if (registry.length) {
    div.appendChild(el('h3', 'Équipements recensés'));
    var rt = document.createElement('table');
    registry.forEach(function(c) { rt.appendChild(row(meta(c).label, withUnit(c, val(level, c, i)))); });
    div.appendChild(rt);
  }
  // comparison: communes with the communes of their population stratum (all of France), ranked
  // only when their gap to the stratum median is beyond the model's uncertainty; other levels
  // with the other territories of the level
  var cmp = null, stratum = level.texts[POPUP.stratum], compared = meta(POPUP.compared);
  if (!POPUP.compared) cmp = null;
  else if (stratum) {
    if (stratum[i]) {
      var median = val(level, POPUP.stratum_median, i), count = fmt.format(val(level, POPUP.stratum_count, i));
      var position = (level.texts[POPUP.stratum_position] || [])[i] || '', lines = [];
      if (known(level, POPUP.stratum_rank, i)) {
        lines.push('Rang ' + fmt.format(val(level, POPUP.stratum_rank, i)) + ' sur ' + count
          + ' dans sa strate (1 = la plus faible ' + lowerFirst(compared.label) + ')' + (position ? ', ' + position : '') + '.');
      } else if (position) {
        lines.push(position.charAt(0).toUpperCase() + position.slice(1)
          + ' : l’écart à la médiane est dans l’incertitude du modèle (bornes basse et haute des facteurs).');
      }
      // the median with its decimals, as on the bar above (a rank is decided by tenths)
      var medianMeta = meta(POPUP.stratum_median);
      lines.push(medianMeta.label + ' : ' + formatter(medianMeta.decimals).format(median) + ' ' + medianMeta.unit
        + ' (' + count + ' communes de la strate en France).');
      cmp = {title: 'Comparaison avec les communes de sa strate (' + keepNumbers(stratum[i]) + ')', median: median, lines: lines};
    }
  } else if (val(level, POPULATION, i) > 0 && level.codes.length > 2) {
    var r = levelRank(level, i);
    cmp = {title: 'Comparaison avec les autres territoires (' + level.label + ')', median: r.median,
           lines: [compared.label + ', en ' + compared.unit + '. Rang ' + fmt.format(r.rank) + ' sur ' + fmt.format(r.n)
             + ' ' + level.label.toLowerCase() + ' de la carte (1 = la valeur la plus faible).']};
  }
  if (cmp) {
    div.appendChild(el('h3', cmp.title));
    div.appendChild(barChart([
      ['Ce territoire', per, '#e6550d', fmt1.format(per)],
      ['Médiane', cmp.median, '#969696', fmt1.format(cmp.median)]
    ], 280));
    cmp.lines.forEach(function(line) { div.appendChild(el('div', line, 'territory-note territory-rank')); });
  }
  hooks.popup.forEach(function(block) { var b = block(level, i); if (b) div.appendChild(b); });
  return div;
}
var base = {}, groups = [], first = null;
function weightOf(level) { return level.layer === 'communes' ? 0.3 : 0.8; }
// a level's polygons are built when it is first shown: opening the map draws only the first
function build(group) {
  if (group.territoryBuilt) return;
  group.territoryBuilt = true;
  var level = decodeLevel(group.territoryLevel), features = decode(level.geometry);
  var values = hooks.values ? hooks.values(level) : level.values[data.indicator];
  group.territoryLayers = [];
  features.forEach(function(polys, i) {
    // noClip: clipping every ring to the view at each redraw costs more than drawing the
    // few vertices outside it (the canvas only draws polygons whose bounds are in view)
    var poly = L.polygon(polys, {renderer: renderer, noClip: true, weight: weightOf(level),
      color: '#ffffff', opacity: 0.8, fillOpacity: data.tiles ? 0.6 : 0.85, fillColor: colour(values[i], level)});
    poly.featureIndex = i;
    group.territoryLayers.push(poly);
    group.addLayer(poly);
  });
}
function closeTooltips() { map.eachLayer(function(l) { if (l instanceof L.Tooltip) map.removeLayer(l); }); }
data.levels.forEach(function(level) {
  var group = L.featureGroup();
  group.on('mouseover', function(e) {
    e.layer.setStyle({weight: 2, color: '#333333'});
    e.layer.bringToFront();
    L.tooltip({sticky: true, direction: 'top', className: 'territory-tooltip-pane'})
      .setLatLng(e.latlng).setContent(tooltipContent(level, e.layer.featureIndex)).openOn(map);
  });
  group.on('mousemove', function(e) { map.eachLayer(function(l) { if (l instanceof L.Tooltip) l.setLatLng(e.latlng); }); });
  group.on('mouseout', function(e) {
    e.layer.setStyle({weight: weightOf(level), color: '#ffffff'});
    closeTooltips();
  });
  group.on('click', function(e) {
    closeTooltips();
    L.popup(POPUP_OPTIONS).setLatLng(e.latlng).setContent(popupContent(level, e.layer.featureIndex)).openOn(map);
  });
  group.territoryLevel = level;
  group.on('add', function() { build(group); });
  base[level.label] = group;
  groups.push(group);
  if (!first) first = group;
});
// the legend folds into its "Légende" button: folded at opening on a narrow window, or when
// it would make the map's opening view smaller (it would otherwise cover land)
var LEGEND_NARROW = 800;
var legend = L.control({position: 'bottomright'});
legend.onAdd = function() {
  this._div = L.DomUtil.create('div', 'territory-legend');
  L.DomEvent.disableClickPropagation(this._div);
  L.DomEvent.disableScrollPropagation(this._div);
  return this._div;
};
legend.setCollapsed = function(collapsed) {
  this.collapsed = collapsed;
  L.DomUtil[collapsed ? 'addClass' : 'removeClass'](this._div, 'territory-legend-collapsed');
  if (this._button) this._button.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
};
legend.update = function(level) {
  var div = this._div, self = this; div.textContent = '';
  var title = el('strong', data.indicatorLabel + ' (' + data.unit + ') — ' + level.label, 'territory-legend-title');
  div.appendChild(title);
  var b = level.breaks, lows = [null].concat(b), highs = b.concat([null]), integer = data.integer[data.indicator];
  // limits shown with the decimals they were rounded to (class_breaks), at least one
  var decimals = b.reduce(function(d, x) { var s = String(x), dot = s.indexOf('.'); return Math.max(d, dot < 0 ? 0 : s.length - dot - 1); }, 1);
  var fmtb = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: Math.min(decimals, 20)});
  for (var i = 0; i < lows.length; i++) {
    var line = document.createElement('div'), sw = document.createElement('i'), txt = document.createElement('span');
    sw.style.background = level.colours[i];
    if (lows[i] === null && highs[i] === null) {
      // no class limit (one value, or none): show the values' range, not "jusqu’à 0"
      var r = level.range || [];
      txt.textContent = !r.length ? 'aucune valeur' : r[0] === r[1] ? fmt1.format(r[0]) : fmt1.format(r[0]) + ' – ' + fmt1.format(r[1]);
    }
    else if (lows[i] === null && level.range && highs[i] === level.range[0]) txt.textContent = fmtb.format(highs[i]);
    else if (lows[i] === null) txt.textContent = 'jusqu’à ' + fmtb.format(highs[i]);
    else if (highs[i] === null) txt.textContent = 'plus de ' + fmtb.format(lows[i]);
    else if (integer) {
      // counts: a class (a, b] holds the whole numbers a + 1 to b
      var a = Math.floor(lows[i]) + 1, z = Math.floor(highs[i]);
      txt.textContent = a >= z ? fmtb.format(z) : fmtb.format(a) + ' – ' + fmtb.format(z);
    }
    else txt.textContent = fmtb.format(lows[i]) + ' – ' + fmtb.format(highs[i]);
    line.appendChild(sw); line.appendChild(txt); div.appendChild(line);
  }
  hooks.legend.forEach(function(block) { block(div, level); });
  var n = level.codes.length, range = level.range || [];
  if (range.length && range[0] !== range[1]) {
    // the spread in the indicator's unit: how far apart the lightest and darkest territories are
    div.appendChild(el('div', 'De ' + amount(data.indicator, range[0]) + ' à ' + amount(data.indicator, range[1]) + ' ' + data.unit,
      'territory-legend-range'));
  }
  // the spread is relative to the median: meaningless when the median is 0 (most communes
  // without any antenna, say)
  var spreadText = level.spread > 0 || !level.range || level.range[0] === level.range[1]
    ? ' · écart du 5e au 95e centile : ' + fmt1.format(100 * level.spread) + ' %' : '';
  var note = el('div', 'Classes par quantiles · ' + fmt.format(n) + (n > 1 ? ' territoires' : ' territoire') + spreadText);
  note.style.color = '#555';
  div.appendChild(note);
  if (level.spread < 0.02 && n > 2 && data.intensive[data.indicator]) {
    // say why a per-inhabitant map is nearly uniform, rather than let it look broken
    var why = el('div', 'Les territoires diffèrent très peu à ce niveau : les écarts locaux (taille des ménages, '
      + 'revenus, emplois) se compensent en partie, et des couleurs différentes séparent ici des valeurs proches. '
      + 'Voir la méthodologie.', 'territory-note territory-uniform');
    why.style.color = '#555';
    div.appendChild(why);
  }
  // last in the text, first on screen (CSS order): the legend's text still starts with its title
  var button = el('button', 'Légende', 'territory-legend-toggle');
  button.type = 'button';
  button.title = 'Afficher ou masquer la légende';
  button.addEventListener('click', function() { self.setCollapsed(!self.collapsed); });
  div.appendChild(button);
  this._button = button;
  this.setCollapsed(!!this.collapsed);
};
legend.addTo(map);
var titleBox = L.control({position: 'topleft'});
titleBox.onAdd = function() {
  var d = L.DomUtil.create('div', 'territory-title');
  d.appendChild(el('h1', data.title));
  if (data.subtitle) d.appendChild(el('p', data.subtitle));
  return d;
};
titleBox.addTo(map);
if (data.attribution && map.attributionControl) map.attributionControl.addAttribution(data.attribution);
// ---- registry points: markers (datacenters, sized by power) and clusters (antennas...)
var communeNames = {};
data.levels.forEach(function(level) { if (level.layer === 'communes') level.codes.forEach(function(c, i) { communeNames[c] = level.names[i]; }); });
// a registry field: its commune's name with the code, texts as they are, numbers with the
// decimals of the column catalogue (layer.columns)
function formatField(layer, name, v) {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v !== 'number') return name === 'code_insee' ? (communeNames[v] ? communeNames[v] + ' (' + v + ')' : v) : String(v);
  var d = (layer.columns[name] || {}).decimals;
  return (Math.abs(v) >= 100 ? fmt : formatter(d)).format(v);
}
function pointContent(layer, i) {
  var div = el('div', undefined, 'territory-popup territory-point'), t = document.createElement('table');
  div.appendChild(el('h2', layer.label));
  layer.order.forEach(function(name) {
    var text = formatField(layer, name, layer.fields[name][i]), label = (layer.columns[name] || {}).label || name;
    if (text === null && name === 'name' && layer.unnamed) {
      // a point without a name: the registry spec's French fallback ("Centre de données sans nom")
      var tr = row(label, layer.unnamed); tr.lastChild.className = 'n territory-unnamed'; t.appendChild(tr);
    }
    else if (text !== null) t.appendChild(row(label, text));
  });
  div.appendChild(t);
  return div;
}
function pointsContent(layer, members) {
  var div = document.createElement('div');
  members.slice(0, 10).forEach(function(i) { div.appendChild(pointContent(layer, i)); });
  if (members.length > 10) div.appendChild(el('div', '… et ' + fmt.format(members.length - 10) + ' autres au même endroit', 'territory-note'));
  return div;
}
function decodePoints(layer) {
  if (layer.lat) return layer;
  var n = layer.count, lat = new Float64Array(n), lon = new Float64Array(n), mx = new Float64Array(n), my = new Float64Array(n), x = 0, y = 0;
  var xy = varints(layer.xy);
  for (var i = 0; i < n; i++) {
    x += xy[2 * i]; y += xy[2 * i + 1];
    lon[i] = x / data.pointScale; lat[i] = y / data.pointScale;
    // Web Mercator in [0, 1]: pixel = m * 256 * 2^zoom, so grids per zoom need no projection
    var s = Math.sin(lat[i] * Math.PI / 180);
    mx[i] = (lon[i] + 180) / 360; my[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  layer.fields = JSON.parse(layer.fields);
  for (var f in layer.fields) layer.fields[f] = decodeColumn(layer.fields[f], n);
  layer.lat = lat; layer.lon = lon; layer.mx = mx; layer.my = my;
  return layer;
}
// markers shrink when the map is zoomed out (half their size four zoom levels out, 3 px at
// least): drawn above the polygons, full-size markers would cover small territories (Nantes
// Métropole at the national view) and take the clicks meant for them
function markerRadius(base) { return Math.max(3, base * Math.min(1, Math.pow(2, (map.getZoom() - 10) / 2))); }
function pointMarker(layer, i, members) {
  var size = layer.size ? layer.fields[layer.size][i] || 0 : 0;
  var base = layer.size ? Math.min(22, 4 + 2.5 * Math.sqrt(size)) : 5, radius = markerRadius(base);
  // a size that is not declared (a default value) is drawn pale, with a dashed outline
  var modelled = layer.sizeOrigin && layer.fields[layer.sizeOrigin] && layer.fields[layer.sizeOrigin][i] !== layer.sizeDeclared;
  var m = L.circleMarker([layer.lat[i], layer.lon[i]], {renderer: pointRenderer, radius: radius, color: modelled ? layer.colour : '#ffffff',
    weight: 1.5, dashArray: modelled ? '3 2' : null, fillColor: layer.colour, fillOpacity: modelled ? 0.35 : 0.85, pane: 'territoryPoints'});
  m.territoryIndex = i; m.territoryRadius = base;
  m.bindPopup(function() { return members && members.length > 1 ? pointsContent(layer, members) : pointContent(layer, i); }, POPUP_OPTIONS);
  return m;
}
var CELL = 56;
function clusterOverlay(layer) {
  var group = L.layerGroup(), cache = {};
  function clusters(zoom) {
    if (cache[zoom]) return cache[zoom];
    var size = 256 * Math.pow(2, zoom) / CELL, cells = new Map(), out = [];
    for (var i = 0; i < layer.count; i++) {
      var key = Math.floor(layer.mx[i] * size) * 4194304 + Math.floor(layer.my[i] * size), c = cells.get(key);
      if (!c) { c = {members: [], lat: 0, lon: 0, s: 90, w: 180, n: -90, e: -180}; cells.set(key, c); out.push(c); }
      c.members.push(i); c.lat += layer.lat[i]; c.lon += layer.lon[i];
      if (layer.lat[i] < c.s) c.s = layer.lat[i]; if (layer.lat[i] > c.n) c.n = layer.lat[i];
      if (layer.lon[i] < c.w) c.w = layer.lon[i]; if (layer.lon[i] > c.e) c.e = layer.lon[i];
    }
    out.forEach(function(c) { c.lat /= c.members.length; c.lon /= c.members.length; });
    cache[zoom] = out;
    return out;
  }
  function redraw() {
    group.clearLayers();
    var view = map.getBounds().pad(0.25), zoom = map.getZoom();
    clusters(zoom).forEach(function(c) {
      if (!view.contains([c.lat, c.lon])) return;
      var together = c.n - c.s < 1e-5 && c.e - c.w < 1e-5;
      if (c.members.length === 1 || together) { group.addLayer(pointMarker(layer, c.members[0], c.members)); return; }
      var d = Math.round(22 + 6 * Math.log10(c.members.length)), label = el('span', fmt.format(c.members.length));
      var box = el('div'); box.className = 'territory-cluster'; box.style.width = box.style.height = d + 'px';
      box.style.background = layer.colour; box.appendChild(label);
      var m = L.marker([c.lat, c.lon], {icon: L.divIcon({html: box, className: 'territory-cluster-icon', iconSize: [d, d]}),
        title: layer.label + ' : ' + c.members.length, keyboard: false});
      m.territoryCluster = c;
      m.on('click', function() { map.fitBounds([[c.s, c.w], [c.n, c.e]], {padding: [40, 40], maxZoom: map.getMaxZoom()}); });
      group.addLayer(m);
    });
  }
  group.on('add', function() { decodePoints(layer); map.on('zoomend moveend', redraw); redraw(); });
  group.on('remove', function() { map.off('zoomend moveend', redraw); });
  return group;
}
var overlays = {}, pointGroups = [];
if (data.tiles) {
  // optional base map (asked for with --map-tiles): the only thing the map ever fetches
  var tiles = L.tileLayer(data.tiles.url, {attribution: data.tiles.attribution, maxZoom: 19}).addTo(map);
  var tilesKey = el('span', data.tiles.label);
  overlays[tilesKey.innerHTML] = tiles;
}
function markerOverlay(layer) {
  var group = L.featureGroup();
  group.on('add', function() {
    if (group.getLayers().length) return;
    decodePoints(layer);
    // largest first, so small markers stay on top and clickable
    var idx = []; for (var i = 0; i < layer.count; i++) idx.push(i);
    if (layer.size) idx.sort(function(a, b) { return (layer.fields[layer.size][b] || 0) - (layer.fields[layer.size][a] || 0); });
    idx.forEach(function(i) { group.addLayer(pointMarker(layer, i)); });
  });
  function resize() { group.eachLayer(function(m) { m.setRadius(markerRadius(m.territoryRadius)); }); }
  group.on('remove', function() { map.off('zoomend', resize); });
  group.on('add', function() { if (group.getLayers().length) { map.on('zoomend', resize); resize(); } });
  return group;
}
data.points.forEach(function(layer) {
  var group = layer.cluster ? clusterOverlay(layer) : markerOverlay(layer);
  group.territoryPoints = layer;
  var key = document.createElement('span'), sw = el('span', undefined, 'territory-swatch');
  sw.style.background = layer.colour; key.appendChild(sw);
  key.appendChild(document.createTextNode(layer.label + ' (' + fmt.format(layer.count) + ')'));
  if (layer.note) { var note = el('div', layer.note, 'territory-note'); note.style.fontSize = '11px'; note.style.color = '#555'; key.appendChild(note); }
  overlays[key.innerHTML] = group;
  pointGroups.push(group);
});
// ---- orientation ("Repères"): coast, main rivers and the names of préfectures and
// sous-préfectures (territory/orientation.py), a light overlay above the polygons that takes no
// clicks (its panes have no pointer events: a click on a river reaches the commune beneath)
function decodeLines(g) {
  var xy = varints(g.d), ll = varints(g.l), fl = varints(g.f), x = 0, y = 0, k = 0, l = 0, out = [];
  for (var f = 0; f < fl.length; f++) {
    var lines = [];
    for (var a = 0; a < fl[f]; a++, l++) {
      var line = new Array(ll[l]);
      for (var c = 0; c < line.length; c++, k++) {
        x += xy[2 * k]; y += xy[2 * k + 1]; line[c] = new L.LatLng(y / data.scale, x / data.scale);
      }
      lines.push(line);
    }
    out.push(lines);
  }
  return out;
}
//: zoom from which the sous-préfectures are named (préfectures are named at every zoom)
var SOUS_PREFECTURE_ZOOM = 8;
var orientation = null;
if (data.orientation) {
  ['territoryOrientation', 'territoryOrientationLabels'].forEach(function(name, k) {
    var pane = map.createPane(name); pane.style.zIndex = 410 + 20 * k; pane.style.pointerEvents = 'none';
  });
  var O = data.orientation, lineRenderer = L.svg({pane: 'territoryOrientation', padding: 0.2});
  orientation = {group: L.layerGroup(), rivers: [], coast: [], places: [L.layerGroup(), L.layerGroup()]};
  decodeLines(O.coast).forEach(function(lines) {
    var l = L.polyline(lines, {renderer: lineRenderer, pane: 'territoryOrientation', interactive: false,
      color: '#4b5d6e', weight: 1, opacity: 0.7});
    orientation.coast.push(l); orientation.group.addLayer(l);
  });
  decodeLines(O.rivers).forEach(function(lines, i) {
    // the larger rivers (Natural Earth scalerank up to 6: Seine, Loire, Rhône, Garonne…) thicker
    var l = L.polyline(lines, {renderer: lineRenderer, pane: 'territoryOrientation', interactive: false,
      color: '#2f7fc1', weight: O.rivers.ranks[i] <= 6 ? 1.8 : 1.1, opacity: 0.85});
    l.territoryName = O.rivers.names[i];
    orientation.rivers.push(l); orientation.group.addLayer(l);
  });
  var pxy = varints(O.places.xy), px = 0, py = 0;
  O.places.names.forEach(function(name, i) {
    px += pxy[2 * i]; py += pxy[2 * i + 1];
    var kind = O.places.kinds[i], label = el('span', name);
    var m = L.marker([py / data.scale, px / data.scale], {pane: 'territoryOrientationLabels', interactive: false, keyboard: false,
      icon: L.divIcon({html: label, className: 'territory-place territory-place-' + kind, iconSize: null, iconAnchor: [3, 3]})});
    m.territoryName = name;
    orientation.places[kind].addLayer(m);
  });
  orientation.group.addLayer(orientation.places[0]);
  // names that would overlap one already placed are hidden (places come préfectures first, the
  // most populous first): at the national view, Paris rather than the préfectures around it
  var declutter = function() {
    var placed = [];
    orientation.places.forEach(function(group) {
      if (!orientation.group.hasLayer(group)) return;
      group.eachLayer(function(m) {
        var node = m.getElement(), p = map.latLngToContainerPoint(m.getLatLng());
        if (!node) return;
        var box = {x0: p.x - 4, y0: p.y - 7, x1: p.x + 10 + 6.5 * m.territoryName.length, y1: p.y + 7};
        var free = placed.every(function(b) { return box.x1 < b.x0 || b.x1 < box.x0 || box.y1 < b.y0 || b.y1 < box.y0; });
        node.style.visibility = free ? '' : 'hidden';
        if (free) placed.push(box);
      });
    });
  };
  var placesByZoom = function() {
    var on = map.getZoom() >= SOUS_PREFECTURE_ZOOM;
    if (on !== orientation.group.hasLayer(orientation.places[1])) orientation.group[on ? 'addLayer' : 'removeLayer'](orientation.places[1]);
    declutter();
  };
  orientation.group.on('add', function() { map.on('zoomend', placesByZoom); placesByZoom(); });
  orientation.group.on('remove', function() { map.off('zoomend', placesByZoom); });
  overlays[el('span', 'Repères').innerHTML] = orientation.group;
}
L.control.layers(base, overlays, {collapsed: false, position: 'topright'}).addTo(map);
map.on('baselayerchange', function(e) { legend.update(e.layer.territoryLevel); });
// indicator switch: recolour every level with that indicator's classes
function showIndicator(column) {
  var ind = data.indicators.filter(function(x) { return x.column === column; })[0];
  if (!ind) return;
  hooks.indicator.forEach(function(told) { told(column); });
  data.indicator = ind.column; data.indicatorLabel = ind.label; data.unit = ind.unit;
  var select = document.querySelector('.territory-indicator select');
  if (select && select.value !== column) select.value = column;
  groups.forEach(function(group) {
    var lvl = decodeLevel(group.territoryLevel), c = lvl.classes[column], values = lvl.values[column];
    lvl.breaks = c.breaks; lvl.colours = c.colours; lvl.spread = c.spread; lvl.range = c.range;
    // levels not built yet take the indicator's colours when they are
    group.eachLayer(function(p) { p.setStyle({fillColor: colour(values[p.featureIndex], lvl)}); });
    if (map.hasLayer(group)) legend.update(lvl);
  });
}
if (data.indicators.length > 1) {
  var picker = L.control({position: 'topright'});
  picker.onAdd = function() {
    var div = L.DomUtil.create('div', 'territory-indicator'), label = el('label', 'Indicateur ');
    var select = document.createElement('select');
    label.appendChild(select); div.appendChild(label);
    data.indicators.forEach(function(ind) {
      var o = el('option', ind.label + ' (' + ind.unit + ')'); o.value = ind.column;
      select.appendChild(o);
    });
    select.value = data.indicator;
    select.addEventListener('change', function() { showIndicator(select.value); });
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  picker.addTo(map);
}
// ---- search a territory of any level by name (accents, case, dashes and apostrophes ignored)
// or code; a suggestion says its level ("Nantes — commune (44)", "Nantes Métropole — EPCI")
function fold(s) { return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[-'’\s]+/g, ' ').trim(); }
var LEVEL_WORDS = {communes: 'commune', epci: 'EPCI', departements: 'département', regions: 'région'}, searchIndex = null;
function departementOf(code) { return code.slice(0, code.slice(0, 2) === '97' ? 3 : 2); }
function suggestion(group, i) {
  var level = group.territoryLevel, code = level.codes[i], word = LEVEL_WORDS[level.layer] || level.label;
  var where = level.layer === 'communes' ? ' (' + departementOf(code) + ')' : level.layer === 'departements' ? ' (' + code + ')' : '';
  return level.names[i] + ' — ' + word + where;
}
function searchTerritories(query) {
  var q = fold(query), code = query.trim().toUpperCase();
  if (!q) return [];
  if (!searchIndex) {
    searchIndex = [];
    groups.forEach(function(group, g) {
      var level = decodeLevel(group.territoryLevel), pop = level.values[POPULATION] || [];
      level.names.forEach(function(name, i) {
        searchIndex.push({group: group, index: i, level: g, name: fold(name), code: level.codes[i], pop: pop[i] || 0});
      });
    });
  }
  // exact name or code, then names starting with the query (or codes), then names holding it;
  // the most populous first, then the finer level
  var found = [[], [], []];
  searchIndex.forEach(function(t) {
    if (t.name === q || t.code === code) found[0].push(t);
    else if (t.name.indexOf(q) === 0 || t.code.indexOf(code) === 0) found[1].push(t);
    else if (t.name.indexOf(q) > 0) found[2].push(t);
  });
  function order(a, b) { return b.pop - a.pop || a.level - b.level; }
  return found[0].sort(order).concat(found[1].sort(order), found[2].sort(order)).slice(0, 10);
}
// the communes found, as indexes of the communes level (kept for scripts using the page)
function searchCommunes(query) {
  return searchTerritories(query).filter(function(t) { return t.group.territoryLevel.layer === 'communes'; })
    .map(function(t) { return t.index; });
}
function focusFeature(group, i) {
  if (!map.hasLayer(group)) {
    groups.forEach(function(g) { if (map.hasLayer(g)) map.removeLayer(g); });
    group.addTo(map);
    legend.update(group.territoryLevel);
  }
  build(group);
  var poly = group.territoryLayers[i], level = group.territoryLevel;
  map.fitBounds(poly.getBounds(), {maxZoom: 12, animate: false, paddingBottomRight: [legendPadding(), 0]});
  L.popup(POPUP_OPTIONS).setLatLng(poly.getCenter()).setContent(popupContent(level, i)).openOn(map);
  return poly;
}
var search = L.control({position: 'topleft'});
search.onAdd = function() {
  var div = L.DomUtil.create('div', 'territory-search'), input = document.createElement('input'), list = document.createElement('ul');
  input.type = 'search'; input.placeholder = 'Commune, EPCI, département, région…';
  input.setAttribute('aria-label', 'Rechercher un territoire par son nom ou son code');
  div.appendChild(input); div.appendChild(list);
  var found = [], active = 0;
  function pick(k) {
    var t = found[k];
    if (t === undefined) return;
    list.textContent = ''; input.value = t.group.territoryLevel.names[t.index];
    focusFeature(t.group, t.index);
  }
  function show() {
    list.textContent = ''; found = searchTerritories(input.value); active = 0;
    if (input.value.trim() && !found.length) list.appendChild(el('li', 'Aucun territoire trouvé', 'territory-none'));
    found.forEach(function(t, k) {
      var li = el('li', suggestion(t.group, t.index));
      if (k === 0) li.className = 'active';
      // the list is emptied by pick(): stopped here, the click cannot reach the map as a click
      // on the map itself (which would close the popup just opened)
      li.addEventListener('click', function(e) { e.stopPropagation(); pick(k); });
      list.appendChild(li);
    });
  }
  input.addEventListener('input', show);
  input.addEventListener('keydown', function(e) {
    if (e.key === 'Enter') { e.preventDefault(); if (!found.length) show(); pick(active); }
    else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = Math.max(0, Math.min(found.length - 1, active + (e.key === 'ArrowDown' ? 1 : -1)));
      Array.prototype.forEach.call(list.children, function(li, k) { li.className = k === active ? 'active' : ''; });
    }
    else if (e.key === 'Escape') { list.textContent = ''; }
  });
  L.DomEvent.disableClickPropagation(div);
  L.DomEvent.disableScrollPropagation(div);
  return div;
};
search.addTo(map);
// ---- overseas insets (territory/mapping.py moved their territories into boxes west of the
// mainland): each box is drawn under the polygons, with its name; neither takes clicks
if (data.insets.length) {
  map.createPane('territoryInsets').style.zIndex = 350;
  map.createPane('territoryInsetLabels').style.zIndex = 420;
  var insetRenderer = L.svg({pane: 'territoryInsets'});
  var insetLabels = data.insets.map(function(inset) {
    var box = L.rectangle(inset.bounds, {renderer: insetRenderer, pane: 'territoryInsets', interactive: false, weight: 1,
      color: '#7f8c99', fillColor: '#eef3f7', fillOpacity: 1}).addTo(map);
    var label = el('span', inset.label);
    L.marker([inset.bounds[1][0], inset.bounds[0][1]], {pane: 'territoryInsetLabels', interactive: false, keyboard: false,
      icon: L.divIcon({html: label, className: 'territory-inset-label', iconSize: null, iconAnchor: [0, 0]})}).addTo(map);
    return {box: box, label: label};
  });
  // a name never spills out of its box (zoomed out, it is cut short)
  var fitLabels = function() {
    insetLabels.forEach(function(x) {
      var b = x.box.getBounds(), w = map.latLngToLayerPoint(b.getNorthEast()).x - map.latLngToLayerPoint(b.getNorthWest()).x;
      x.label.style.maxWidth = Math.max(0, w - 4) + 'px';
    });
  };
  map.on('zoomend', fitLabels);
}
// room kept for the legend on the right when a view is framed
function legendPadding() { return legend.collapsed ? 20 : legend._div.offsetWidth + 20; }
function containerRect(node) {
  var r = node.getBoundingClientRect(), c = map.getContainer().getBoundingClientRect();
  return {x0: r.left - c.left, y0: r.top - c.top, x1: r.right - c.left, y1: r.bottom - c.top};
}
// whether the legend is folded for the frame at this window size: on a narrow window, or when,
// unfolded, it would make the view of the frame smaller (it would otherwise cover land)
function legendFolds(frame) {
  var size = map.getSize(), bottom = 30;
  if (size.x < LEGEND_NARROW) return true;
  var was = legend.collapsed;
  legend.setCollapsed(false);
  var room = legend._div.offsetWidth + 20, tall = legend._div.offsetHeight + 90 > size.y;
  legend.setCollapsed(was);
  return tall || map.getBoundsZoom(frame, false, L.point(room + 10, bottom + 10)) < map.getBoundsZoom(frame, false, L.point(30, bottom + 10));
}
// the opening view: the map's territories (a national map: the mainland and the overseas boxes,
// data.frame), with the legend folded when it would cover them or shrink the view
function frameView(frame) {
  var bottom = 30, folded = legendFolds(frame);
  legend.setCollapsed(folded);
  map.fitBounds(frame, {animate: false, paddingTopLeft: [10, 10], paddingBottomRight: [legendPadding(), bottom]});
  var nw = map.latLngToContainerPoint(frame.getNorthWest()), se = map.latLngToContainerPoint(frame.getSouthEast());
  var r = containerRect(legend._div);
  if (!folded && r.x0 < se.x && nw.x < r.x1 && r.y0 < se.y && nw.y < r.y1) legend.setCollapsed(true);
  legend.foldedFor = {frame: frame, folded: legend.collapsed};
}
// after a window resize, the fold is decided again for the new size; it changes only when the
// decision does (a legend the reader opened or closed stays so while the size keeps its answer)
map.on('resize', function() {
  var last = legend.foldedFor;
  if (!last) return;
  var folded = legendFolds(last.frame);
  if (folded !== last.folded) { legend.setCollapsed(folded); last.folded = folded; }
});
window.territoryMap = {map: map, groups: groups, data: data, showIndicator: showIndicator, pointGroups: pointGroups,
  searchCommunes: searchCommunes, searchTerritories: searchTerritories, focusFeature: focusFeature,
  popupContent: popupContent, legend: legend, orientation: orientation, hooks: hooks, series: series,
  decodeLevel: decodeLevel, colour: colour, meta: meta, withUnit: withUnit, amount: amount, signedPct: signedPct,
  el: el, svg: svg};
// scripts placed before this one (static/map-scenarios.js) plug in here, before any polygon is
// built: the opening view is drawn once, with what they chose
(window.territoryPlugins || []).forEach(function(plugin) { plugin(window.territoryMap); });
if (first) {
  // frame the view before adding the polygons, without animation: they are projected and
  // drawn once (adding them first, then fitting, projected and drew them all twice)
  build(first);
  legend.update(first.territoryLevel);
  var bounds = first.getBounds();
  var metro = L.latLngBounds([41.2, -5.5], [51.2, 9.8]);
  frameView(data.frame ? L.latLngBounds(data.frame) : metro.contains(bounds) || !metro.intersects(bounds) ? bounds : metro);
  first.addTo(map);
}
if (orientation) orientation.group.addTo(map);
if (data.insets.length) fitLabels();
// registry layers shown at opening go on the map once it is framed: added before, they made
// the map draw at its initial view first (about 0.3 s more for all of France)
pointGroups.forEach(function(g) { if (g.territoryPoints.shown) g.addTo(map); });
})();
