// Overview page: the detector drawn from /api/v1/detector (one request, parallel arrays), each sensor coloured by
// the chosen quantity. Side view: one column per detection unit, one cell per floor (0, the base, at the bottom).
// Top view: the detection units at their x/y positions, coloured by the median of their sensors.
// Hover shows a sensor, a click opens its page; a search (the form's values, in data-search) marks its matches.
// Drawn in CSS pixels at the width of the page, so the text stays readable at phone width; redrawn when it changes.
"use strict";

(function () {
  const root = document.getElementById("detector");
  if (!root) {
    return;
  }
  const SVG = "http://www.w3.org/2000/svg";
  const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
  const NO_DATA = "#c8c8c8";
  const status = document.getElementById("detector-status");
  const sensorUrl = root.dataset.sensorUrl; // ends with "/"; the sensor id follows
  const search = JSON.parse(root.dataset.search);
  let data = null;

  function element(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) {
      node.setAttribute(key, value);
    }
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  }

  function text(parent, x, y, content, anchor) {
    const node = element("text", {x: x, y: y, "text-anchor": anchor || "start", class: "axis"}, parent);
    node.textContent = content;
    return node;
  }

  function hexToRgb(hex) {
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }

  function colour(fraction) {
    const f = Math.min(1, Math.max(0, fraction)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(f));
    const [a, b] = [hexToRgb(VIRIDIS[i]), hexToRgb(VIRIDIS[i + 1])];
    const mixed = a.map((value, k) => Math.round(value + (b[k] - value) * (f - i)));
    return `rgb(${mixed[0]},${mixed[1]},${mixed[2]})`;
  }

  // one colour scale for the calibrated sensors and one for the others (their levels are in other units);
  // availability is 0 to 1 for all
  function group(i) {
    return data.quantity === "availability" || data.calibrated[i] ? "calibrated" : "uncalibrated";
  }

  function scales() {
    const found = {};
    for (const name of ["calibrated", "uncalibrated"]) {
      const finite = data.value.filter((v, i) => v !== null && group(i) === name).sort((a, b) => a - b);
      if (data.quantity === "availability") {
        found[name] = name === "calibrated" ? [0, 1] : null;
      } else if (finite.length) {
        const low = Math.floor(finite[0]);
        found[name] = [low, Math.max(low + 1, Math.ceil(finite[finite.length - 1]))];
      } else {
        found[name] = null;
      }
    }
    return found;
  }

  function fill(value, scale) {
    return value === null || !scale ? NO_DATA : colour((value - scale[0]) / (scale[1] - scale[0]));
  }

  function sensorFill(i, scale) {
    return fill(data.value[i], scale[group(i)]);
  }

  function matches(i) {
    const type = data.type[i] || "unknown";
    return (search.dom === undefined || String(data.sensor[i]).split("_")[1].includes(search.dom))
      && (search.string === undefined || data.string[i] === search.string)
      && (search.floor === undefined || data.floor[i] === search.floor)
      && (search.type === undefined || type === search.type);
  }

  function describe(i) {
    const value = data.value[i];
    const shown = value === null ? "no data" : data.quantity === "availability"
      ? `${(100 * value).toFixed(1)} % of windows` : `${value.toFixed(1)} dB${data.calibrated[i] ? "" : " (uncalibrated)"}`;
    const place = data.string[i] === null ? "not placed" : `string ${data.string[i]}, floor ${data.floor[i]}`;
    return `${data.sensor[i]} · ${data.type[i] || "unknown type"} · ${place} · ${shown}`;
  }

  function show(i) {
    status.textContent = i === null ? root.dataset.hint : describe(i);
  }

  // the detection units: [detector, string] -> indices of their sensors, in the order of the document
  function units() {
    const byUnit = new Map();
    data.sensor.forEach((_, i) => {
      if (data.string[i] === null) {
        return;
      }
      const key = `${data.detector[i] || ""}|${data.string[i]}`;
      if (!byUnit.has(key)) {
        byUnit.set(key, []);
      }
      byUnit.get(key).push(i);
    });
    return [...byUnit.values()];
  }

  // detectors one after the other, a gap of SEPARATOR columns between them, each named above its columns
  function sideView(width, groups, scale) {
    const SEPARATOR = 2;
    const floors = Math.max(0, ...data.floor.filter((f) => f !== null)) + 1;
    const detectors = [];
    groups.forEach((indices, k) => {
      const name = data.detector[indices[0]] || "";
      if (!detectors.length || detectors[detectors.length - 1].name !== name) {
        detectors.push({name: name, first: k});
      }
    });
    const named = detectors.length > 1 || detectors.some((d) => d.name);
    const margin = {left: 34, right: 6, top: named ? 20 : 6, bottom: 30};
    const columns = groups.length + SEPARATOR * (detectors.length - 1);
    const cellWidth = (width - margin.left - margin.right) / Math.max(1, columns);
    const cellHeight = Math.max(9, Math.min(18, 360 / floors));
    const height = margin.top + floors * cellHeight + margin.bottom;
    const svg = element("svg", {width: width, height: height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Side view: ${groups.length} detection units, floors by height, each sensor coloured by ${data.description}`});
    const cells = element("g", {}, svg);
    const gap = cellWidth > 4 ? 1 : 0;
    const detectorOf = groups.map((_, k) => detectors.filter((d) => d.first <= k).length - 1);
    const left = groups.map((_, k) => margin.left + (k + SEPARATOR * detectorOf[k]) * cellWidth);
    groups.forEach((indices, column) => {
      for (const i of indices) {
        const cell = element("rect", {
          x: left[column], y: margin.top + (floors - 1 - data.floor[i]) * cellHeight,
          width: Math.max(0.5, cellWidth - gap), height: cellHeight - 1, fill: sensorFill(i, scale), "data-index": i,
        }, cells);
        if (search.active && !matches(i)) {
          cell.setAttribute("opacity", "0.25");
        } else if (search.active) {
          cell.setAttribute("class", "match");
        }
      }
    });
    if (named) {
      detectors.forEach((d) => text(svg, left[d.first], 13, d.name));
    }
    const labelEvery = Math.ceil(28 / cellWidth);
    groups.forEach((indices, column) => {
      const own = detectorOf[column];
      const end = own + 1 < detectors.length ? detectors[own + 1].first : groups.length;
      if ((column - detectors[own].first) % labelEvery === 0 && end - column > labelEvery / 2) {
        text(svg, left[column] + 0.5 * cellWidth, margin.top + floors * cellHeight + 13, String(data.string[indices[0]]), "middle");
      }
    });
    text(svg, margin.left, height - 3, "detection unit (string) →");
    for (let floor = 0; floor < floors; floor += floors > 10 ? 3 : 1) {
      text(svg, margin.left - 4, margin.top + (floors - 1 - floor) * cellHeight + cellHeight * 0.75, String(floor), "end");
    }
    return svg;
  }

  function median(values) {
    const finite = values.filter((v) => v !== null).sort((a, b) => a - b);
    return finite.length ? finite[Math.floor((finite.length - 1) / 2)] : null;
  }

  function topView(width, groups, scale, title) {
    const placed = groups.filter((indices) => data.x_m[indices[0]] !== null);
    if (!placed.length) {
      return null;
    }
    const xs = placed.map((g) => data.x_m[g[0]]);
    const ys = placed.map((g) => data.y_m[g[0]]);
    const [xMin, xMax, yMin, yMax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const spanM = Math.max(xMax - xMin, yMax - yMin, 1);
    const size = Math.min(width, 420);
    const pad = 18;
    const metres = (size - 2 * pad) / spanM;
    const height = (yMax - yMin) * metres + 2 * pad + 16;
    const radius = Math.max(2, Math.min(12, 0.4 * Math.sqrt((size - 2 * pad) ** 2 / placed.length)));
    const svg = element("svg", {width: size, height: height, viewBox: `0 0 ${size} ${height}`, role: "img",
      "aria-label": `Top view: ${placed.length} detection units at their positions, coloured by the median of their optical modules`});
    placed.forEach((indices) => {
      const i = indices[0];
      // the unit's colour: the median of its optical modules (floors above the base), all calibrated alike or not
      const modules = indices.filter((k) => data.floor[k] > 0);
      const candidates = modules.length ? modules : indices;
      const known = candidates.filter((k) => data.value[k] !== null);
      const piezos = known.length ? known.filter((k) => group(k) === group(known[0])) : candidates;
      const unitMatches = !search.active || indices.some(matches);
      element("circle", {
        cx: pad + (data.x_m[i] - xMin) * metres, cy: pad + (yMax - data.y_m[i]) * metres, r: radius,
        fill: fill(median(piezos.map((k) => data.value[k])), scale[group(piezos[0])]), "data-string": data.string[i], "data-index": i,
        opacity: unitMatches ? "1" : "0.25", class: search.active && unitMatches ? "match" : "",
      }, svg);
    });
    text(svg, pad, height - 3, `${title ? title + ": " : ""}x → (${Math.round(spanM)} m across)`);
    return svg;
  }

  function legend(width, scale) {
    const shown = Object.entries(scale).filter(([, range]) => range);
    const size = Math.min(width, 460);
    const rowHeight = 46;
    const svg = element("svg", {width: size, height: Math.max(1, shown.length) * rowHeight + 4, role: "img", "aria-label": "Colour scales"});
    const steps = 40;
    const barWidth = size - 90;
    shown.forEach(([name, range], row) => {
      const top = row * rowHeight;
      const title = data.quantity === "availability" ? data.units.calibrated : `${name} sensors: ${data.units[name]}`;
      text(svg, 0, top + 11, title);
      for (let k = 0; k < steps; k += 1) {
        element("rect", {x: k * barWidth / steps, y: top + 15, width: barWidth / steps + 0.5, height: 12, fill: colour(k / (steps - 1))}, svg);
      }
      const format = (v) => (data.quantity === "availability" ? `${Math.round(v * 100)} %` : `${v} dB`);
      text(svg, 0, top + 41, format(range[0]));
      text(svg, barWidth, top + 41, format(range[1]), "end");
    });
    element("rect", {x: barWidth + 12, y: 15, width: 12, height: 12, fill: NO_DATA}, svg);
    text(svg, barWidth + 28, 26, "no data");
    return svg;
  }

  function draw() {
    const width = root.clientWidth;
    const groups = units();
    const scale = scales();
    const views = root.querySelector(".views");
    views.replaceChildren();
    // wide pages: the side view and the top view side by side; narrow ones: one above the other
    const topWidth = width >= 900 ? 340 : width;
    const side = document.createElement("figure");
    side.appendChild(sideView(width >= 900 ? width - topWidth - 16 : width, groups, scale));
    views.appendChild(side);
    // a top view per detector: each has its own coordinates
    const byDetector = new Map();
    groups.forEach((indices) => {
      const name = data.detector[indices[0]] || "";
      byDetector.set(name, [...(byDetector.get(name) || []), indices]);
    });
    for (const [name, detectorUnits] of byDetector) {
      const top = topView(topWidth, detectorUnits, scale, byDetector.size > 1 ? name : "");
      if (top) {
        const figure = document.createElement("figure");
        figure.appendChild(top);
        views.appendChild(figure);
      }
    }
    root.querySelector(".legend").replaceChildren(legend(width, scale));
    const unplaced = data.string.filter((s) => s === null).length;
    root.querySelector(".unplaced").textContent = unplaced
      ? `${unplaced} sensor${unplaced === 1 ? "" : "s"} without a known string and floor: in the table below.` : "";
  }

  function index(event) {
    const target = event.target.closest("[data-index]");
    return target ? Number(target.dataset.index) : null;
  }

  root.addEventListener("pointermove", (event) => show(index(event)));
  root.addEventListener("pointerleave", () => show(null));
  root.addEventListener("click", (event) => {
    const target = event.target.closest("[data-index]");
    if (!target) {
      return;
    }
    if (target.dataset.string !== undefined) {
      window.location.href = root.dataset.stringUrl.replace("STRING", target.dataset.string);
    } else {
      window.location.href = sensorUrl + encodeURIComponent(data.sensor[Number(target.dataset.index)]);
    }
  });

  fetch(root.dataset.source, {headers: {Accept: "application/json"}})
    .then((response) => {
      if (!response.ok) {
        throw new Error(`${response.status} ${response.statusText}`);
      }
      return response.json();
    })
    .then((document_) => {
      data = document_;
      // drawn once the picture has its width (a page still being laid out gives 0), and again when the width changes
      let drawnWidth = null;
      new ResizeObserver(() => {
        const width = root.clientWidth;
        if (width > 0 && width !== drawnWidth) {
          drawnWidth = width;
          draw();
          show(null);
          root.dataset.drawn = String(data.n_sensors);
        }
      }).observe(root);
    })
    .catch((error) => {
      status.textContent = `The detector could not be drawn: ${error.message}. The table below lists the sensors.`;
    });
}());
