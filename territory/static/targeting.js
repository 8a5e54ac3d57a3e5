// targeting.html (territory target): communes coloured by the laptops handed out to collège
// pupils, or their net embodied emissions, under the policy chosen in the panel. The classes of
// a measure are shared by the policies, so that switching policy compares them on one scale.
// The page's data is the JSON block #targeting-data (built by territory/targeting.py).
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("targeting-data").textContent);
  var state = { policy: data.policies[0].id, measure: data.measures[0].id };
  var number = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });
  var whole = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 0 });

  var map = L.map("targeting-map", { preferCanvas: true, attributionControl: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(escapeText(data.attribution));

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function measureSpec() {
    return data.measures.filter(function (m) { return m.id === state.measure; })[0];
  }

  function valueOf(feature) {
    var figures = feature.properties.policies[state.policy];
    return figures ? figures[state.measure] : null;
  }

  function colourOf(value) {
    var spec = measureSpec();
    if (value === null || value === undefined) {
      return "#cccccc";
    }
    var i = 0;
    while (i < spec.breaks.length && value > spec.breaks[i]) {
      i += 1;
    }
    return spec.colours[i];
  }

  function style(feature) {
    return { fillColor: colourOf(valueOf(feature)), fillOpacity: 0.85, color: "#555",
      weight: 0.6 };
  }

  function format(value, integer) {
    if (value === null || value === undefined) {
      return "—";
    }
    return (integer ? whole : number).format(value);
  }

  function popup(feature) {
    var p = feature.properties;
    var figures = p.policies[state.policy];
    var lines = [
      "<strong>" + escapeText(p.nom) + "</strong> (" + escapeText(p.code_insee) + ")",
      "Collégiens (11-14 ans) : " + format(p.pupils, true) + (p.pupils_estimated ? " (estimé)" : ""),
      "Sans ordinateur à la maison : " + format(p.pupils_without_computer, true),
      "Ordinateurs distribués : " + format(figures.devices, true),
      "Achats évités : " + format(figures.avoided_purchases, true),
      "Émissions de fabrication nettes : " + format(figures.net_embodied_tco2e) + " tCO₂e",
    ];
    return lines.join("<br>");
  }

  var layer = L.geoJSON(data.communes, { style: style }).addTo(map);
  layer.eachLayer(function (item) {
    item.bindPopup(function () { return popup(item.feature); });
  });
  var bounds = layer.getBounds();
  if (bounds.isValid()) {
    map.fitBounds(bounds);
  } else {
    map.setView([46.6, 2.4], 6);
  }

  var panel = L.control({ position: "topright" });
  panel.onAdd = function () {
    var div = L.DomUtil.create("div", "targeting-panel");
    L.DomEvent.disableClickPropagation(div);
    var title = document.createElement("h1");
    title.textContent = data.title;
    var subtitle = document.createElement("p");
    subtitle.textContent = data.subtitle;
    div.appendChild(title);
    div.appendChild(subtitle);
    div.appendChild(selector("targeting-policy", "Politique", data.policies, "policy"));
    div.appendChild(selector("targeting-measure", "Indicateur", data.measures, "measure"));
    var legend = document.createElement("div");
    legend.id = "targeting-legend";
    legend.className = "targeting-legend";
    div.appendChild(legend);
    var total = document.createElement("div");
    total.id = "targeting-total";
    total.className = "targeting-total";
    div.appendChild(total);
    return div;
  };
  panel.addTo(map);

  function selector(id, text, options, key) {
    var label = document.createElement("label");
    label.textContent = text;
    label.htmlFor = id;
    var select = document.createElement("select");
    select.id = id;
    options.forEach(function (option) {
      var item = document.createElement("option");
      item.value = option.id;
      item.textContent = option.label;
      select.appendChild(item);
    });
    select.value = state[key];
    select.addEventListener("change", function () {
      state[key] = select.value;
      redraw();
    });
    label.appendChild(select);
    return label;
  }

  function drawLegend() {
    var spec = measureSpec();
    var legend = document.getElementById("targeting-legend");
    legend.textContent = "";
    var heading = document.createElement("label");
    heading.textContent = spec.label + " (" + spec.unit + ")";
    legend.appendChild(heading);
    var limits = spec.breaks;
    spec.colours.forEach(function (colour, i) {
      var row = document.createElement("div");
      var swatch = document.createElement("i");
      swatch.style.background = colour;
      row.appendChild(swatch);
      var low = i === 0 ? null : limits[i - 1];
      var high = i < limits.length ? limits[i] : null;
      var text = low === null ? "≤ " + format(high) : high === null ? "> " + format(low)
        : format(low) + " – " + format(high);
      row.appendChild(document.createTextNode(limits.length ? text : "toutes les communes"));
      legend.appendChild(row);
    });
  }

  function drawTotals() {
    var box = document.getElementById("targeting-total");
    box.textContent = "";
    data.totals.filter(function (t) { return t.policy === state.policy; }).forEach(function (t) {
      var line = document.createElement("div");
      line.textContent = t.nom + " : " + format(t.devices, true) + " ordinateurs, "
        + format(t.net_embodied_tco2e) + " tCO₂e nettes, "
        + format(t.tco2e_per_pupil_newly_equipped * 1000) + " kgCO₂e par collégien équipé";
      box.appendChild(line);
    });
  }

  function redraw() {
    layer.setStyle(style);
    drawLegend();
    drawTotals();
  }

  redraw();
  // for tests and the curious: the map, the communes layer and the current choice
  window.targetingMap = {
    map: map,
    layer: layer,
    state: state,
    colourOf: function (code) {
      var colour = null;
      layer.eachLayer(function (item) {
        if (item.feature.properties.code_insee === code) {
          colour = item.options.fillColor;
        }
      });
      return colour;
    },
  };
})();
