/* pytest-convbudget HTML report: sortable tables, and each measurement's charts drawn
   when its section is first opened, so a page of 500 measurements loads at once.
   Counts arrive as decimal strings and are shown through BigInt: never rounded. */
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var FIGURES = [["flops", "FLOPs"], ["params", "params"], ["macs", "MACs"]];  // the chart's switch
  // Each kind's colour comes from the registry (pytest_convbudget.kinds), through the page's data.
  var KIND_COLOURS = JSON.parse(document.getElementById("cb-kind-colours").textContent);
  var SPARE = ["#5e35b1", "#c0ca33", "#00acc1", "#f4511e", "#3949ab", "#7cb342"];
  var BLOCKS = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#558b2f",
                "#283593", "#9e9d24"];
  var ROW = 26;

  function exact(text) { return BigInt(text).toLocaleString("en-US"); }
  function share(part, whole) {
    return BigInt(whole) === 0n ? "0.0" : (Number(part) * 100 / Number(whole)).toFixed(1);
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  /* Text that may break after each dot or slash (``PATH_PARTS``) or underscore (``TYPE_PARTS``). */
  var PATH_PARTS = /[^./]*[./]?/g, TYPE_PARTS = /[^._]*[._]?/g;
  function breakable(host, text, parts) {
    (text.match(parts) || []).forEach(function (part, index, all) {
      if (!part) return;
      host.appendChild(document.createTextNode(part));
      if (index < all.length - 2) host.appendChild(document.createElement("wbr"));
    });
    return host;
  }
  /* A module path's cell: it gives way first when a table is squeezed (breaking, by the style,
     anywhere in a part too long for its column). */
  function pathCell(text) { return breakable(el("td", {"class": "path"}), text, PATH_PARTS); }
  /* An op's type: whole parts up to a cap, as the summary shows a name. */
  function typeCell(text) {
    var cell = el("td", {"class": "name"});
    cell.appendChild(breakable(el("span", {"class": "cb-cap"}), text, TYPE_PARTS));
    return cell;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }
  /* A header row; columns from ``firstNumeric`` on are right-aligned numbers. */
  function headRow(table, names, firstNumeric) {
    var row = el("tr");
    names.forEach(function (name, index) {
      row.appendChild(el("th", index >= firstNumeric ? {"class": "num"} : {}, name));
    });
    table.appendChild(row);
  }
  /* A folded row (repeated blocks shown as one, ``layers.*.mlp.fc1 ×12``) opens onto its members:
     a button in its first cell shows or hides their rows, which follow it (and follow it when sorted). */
  function addGroup(host, row, members, makeRow) {
    host.appendChild(row);
    if (!members || !members.length) return;
    var button = el("button", {type: "button", "class": "cb-toggle", "aria-expanded": "false",
                               title: "show the " + members.length + " rows it holds"}, "▸");
    row.cells[0].insertBefore(button, row.cells[0].firstChild);
    row.classList.add("cb-group");
    var rows = members.map(function (member) {
      var line = makeRow(member);
      line.classList.add("cb-member");
      line.hidden = true;
      host.appendChild(line);
      return line;
    });
    row.cbMembers = rows;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.textContent = open ? "▾" : "▸";
      rows.forEach(function (line) { line.hidden = !open; });
    });
  }
  function kindColour(kind) {
    if (KIND_COLOURS[kind]) return KIND_COLOURS[kind];
    var hash = 0;
    for (var i = 0; i < kind.length; i++) hash = (hash * 31 + kind.charCodeAt(i)) % 9973;
    return SPARE[hash % SPARE.length];
  }

  /* Sorting: numbers compare as BigInt when whole, else as floats; text as text. */
  function compareCells(a, b, numeric) {
    if (!numeric) return a.localeCompare(b);
    if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
      var x = BigInt(a), y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return parseFloat(a) - parseFloat(b);
  }
  function makeSortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, column) {
      th.classList.add("cb-sortable-col");
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.filter.call(body.rows, function (row) { return !row.classList.contains("cb-member"); });
        var numeric = th.getAttribute("data-type") === "num";
        rows.sort(function (r1, r2) {
          var c1 = r1.cells[column], c2 = r2.cells[column];
          var a = c1.getAttribute("data-sort") || c1.textContent.trim();
          var b = c2.getAttribute("data-sort") || c2.textContent.trim();
          var order = compareCells(a, b, numeric);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
          (row.cbMembers || []).forEach(function (member) { body.appendChild(member); });
        });
      });
    });
  }

  /* The icicle: the model on top, then its blocks, then their children; widths by the figure. */
  function drawIcicle(host, data, figure, label) {
    host.textContent = "";
    var width = Math.max(640, Math.min(1400, host.parentNode.clientWidth - 20));
    var rects = [];
    var depth = 0;
    function place(node, x, w, level, colour) {
      depth = Math.max(depth, level + 1);
      rects.push({node: node, x: x, w: w, level: level, colour: colour});
      var total = Number(node.values[figure]);
      var at = x;
      node.children.forEach(function (child, index) {
        var part = total === 0 ? 0 : w * Number(child.values[figure]) / total;
        place(child, at, part, level + 1, level === 0 ? BLOCKS[index % BLOCKS.length] : colour);
        at += part;
      });
    }
    place(data.tree, 0, width, 0, "#37474f");
    var svg = svgEl("svg", {"class": "cb-icicle", width: width, height: depth * ROW, role: "img",
                            "aria-label": label + " along the module tree"});
    var manyKinds = data.kinds.length > 1;
    var whole = data.tree.values[figure];
    rects.forEach(function (item) {
      var node = item.node, leaf = node.children.length === 0;
      var fill = item.level === 0 ? "#37474f" : manyKinds ? (leaf ? kindColour(node.kind) : "#90a4ae")
                                                        : item.colour;
      var rect = svgEl("rect", {x: item.x.toFixed(2), y: item.level * ROW, width: Math.max(0, item.w).toFixed(2),
                                height: ROW - 2, fill: fill, "data-depth": item.level, "data-value": node.values[figure],
                                "data-path": node.path, "data-leaf": leaf ? "1" : "0",
                                "fill-opacity": item.level > 1 && !manyKinds ? Math.max(0.55, 1 - 0.12 * item.level) : 1});
      if (node.change) rect.setAttribute("class", "change-" + node.change);
      var title = svgEl("title", {});
      var lines = [(node.path || node.label) + (node.kind ? " (" + node.kind + ")" : "")];
      FIGURES.forEach(function (pair) {
        lines.push(pair[1] + ": " + exact(node.values[pair[0]]) +
                   (pair[0] === figure ? " (" + share(node.values[figure], whole) + "%)" : ""));
      });
      if (node.change) lines.push("against the baseline: " + node.change);
      title.textContent = lines.join("\n");
      rect.appendChild(title);
      svg.appendChild(rect);
      if (item.w > 46) {
        var mark = node.change === "grown" ? "▲ " : node.change === "shrunk" ? "▼ " : node.change === "added" ? "+ " : "";
        var text = mark + node.label + " " + share(node.values[figure], whole) + "%";
        var room = Math.floor((item.w - 8) / 6.3);
        if (text.length > room) text = text.slice(0, Math.max(1, room - 1)) + "…";
        var caption = svgEl("text", {x: (item.x + 4).toFixed(2), y: item.level * ROW + 16});
        caption.textContent = text;
        svg.appendChild(caption);
      }
    });
    host.appendChild(svg);
    if (manyKinds) {
      var legend = el("p", {"class": "cb-legend"}, "Kinds counted: ");
      data.kinds.forEach(function (kind) {
        var entry = el("span", {});
        entry.appendChild(el("i", {"data-kind": kind, style: "background: " + kindColour(kind)}));
        entry.appendChild(document.createTextNode(kind));
        legend.appendChild(entry);
      });
      host.appendChild(legend);
    }
    var note = el("p", {"class": "muted cb-chart-note"});
    note.appendChild(document.createTextNode(label + " per sample: "));
    note.appendChild(el("strong", {"data-chart-total": figure}, exact(whole)));
    note.appendChild(document.createTextNode("; every row of the chart adds up to it. Hover a part for exact figures."));
    host.appendChild(note);
  }

  function chartSection(body, data) {
    body.appendChild(el("h3", {}, "Where the cost goes, along the module tree"));
    var switcher = el("div", {"class": "cb-switch", role: "group"});
    var host = el("div", {"class": "cb-chart"});
    FIGURES.forEach(function (pair, index) {
      var button = el("button", {type: "button", "data-figure": pair[0], "aria-pressed": index === 0 ? "true" : "false"}, pair[1]);
      button.addEventListener("click", function () {
        switcher.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
        button.setAttribute("aria-pressed", "true");
        drawIcicle(host, data, pair[0], pair[1]);
      });
      switcher.appendChild(button);
    });
    body.appendChild(switcher);
    body.appendChild(host);
    drawIcicle(host, data, "flops", "FLOPs");
  }

  function blocksSection(body, data) {
    if (!data.blocks.length) return;
    body.appendChild(el("h3", {}, data.blocks_title));
    var table = el("table", {"class": "cb-pairs"});
    var scale = 0;
    data.blocks.forEach(function (b) { scale = Math.max(scale, Number(b.before), Number(b.after)); });
    headRow(table, ["block", "before / after", "before", "after", "change"], 2);
    function blockRow(b) {
      var row = el("tr", {"class": b.state ? "change-" + (b.state === "new" ? "added" : "removed") : ""});
      row.appendChild(pathCell(b.name + (b.state ? " (" + b.state + ")" : "")));
      var track = el("td", {"class": "cb-track"});
      ["before", "after"].forEach(function (side) {
        var w = scale ? 100 * Number(b[side]) / scale : 0;
        track.appendChild(el("span", {"class": "cb-bar " + side, style: "width: " + w.toFixed(2) + "%",
                                      title: side + ": " + exact(b[side]) + " FLOPs"}));
      });
      row.appendChild(track);
      row.appendChild(el("td", {"class": "num"}, exact(b.before)));
      row.appendChild(el("td", {"class": "num"}, exact(b.after)));
      row.appendChild(el("td", {"class": "num " + (b.change[0] === "+" ? "up" : b.change[0] === "-" ? "down" : "")}, b.change));
      return row;
    }
    data.blocks.forEach(function (b) { addGroup(table, blockRow(b), b.members, blockRow); });
    body.appendChild(table);
  }

  function movedSection(body, data) {
    if (!data.moved.length) return;
    body.appendChild(el("h3", {}, "Layers that grew, shrank, appeared or went"));
    var table = el("table", {"class": "cb-moved"});
    headRow(table, ["layer", "status", "FLOPs before", "FLOPs after", "change", "params before", "params after"], 2);
    function movedRow(m) {
      var row = el("tr", {"class": "change-" + m.status});
      row.appendChild(pathCell(m.name));
      row.appendChild(el("td", {}, m.status));
      row.appendChild(el("td", {"class": "num"}, exact(m.before.flops)));
      row.appendChild(el("td", {"class": "num"}, exact(m.after.flops)));
      row.appendChild(el("td", {"class": "num"}, m.change));
      row.appendChild(el("td", {"class": "num"}, exact(m.before.params)));
      row.appendChild(el("td", {"class": "num"}, exact(m.after.params)));
      return row;
    }
    data.moved.forEach(function (m) { addGroup(table, movedRow(m), m.members, movedRow); });
    body.appendChild(table);
  }

  function layersSection(body, data) {
    body.appendChild(el("h3", {}, "Layers (" + data.layers.length + " rows, per sample)"));
    var table = el("table", {"class": "cb-layers"});
    var head = el("thead"), line = el("tr");
    var columns = data.layer_columns;
    var numeric = {groups: true, "output bytes": true, params: true, FLOPs: true, MACs: true};
    var figure = {params: "params", FLOPs: "flops", MACs: "macs"};
    var minor = {kind: true, stride: true, groups: true, bias: true};  // folded away in a narrow window
    var wide = {"output bytes": true};  // shown in a wide window only
    function classes(name) {
      return [numeric[name] ? "num" : "", minor[name] ? "cb-minor" : "", wide[name] ? "cb-wide" : ""].join(" ").trim();
    }
    columns.forEach(function (name) {
      line.appendChild(el("th", {"data-type": numeric[name] ? "num" : "text", "class": classes(name)}, name));
    });
    head.appendChild(line);
    table.appendChild(head);
    var rows = el("tbody");
    function layerRow(cells) {
      var change = cells[cells.length - 1];
      var row = el("tr", {"class": change ? "change-" + change : ""});
      cells.forEach(function (cell, index) {
        var name = columns[index];
        row.appendChild(figure[name] ? el("td", {"class": "num", "data-sort": cell, "data-figure": figure[name]}, exact(cell))
                        : name === "output bytes" ? el("td", {"class": "num cb-wide", "data-sort": cell}, /^\d+$/.test(cell) ? exact(cell) : cell)
                        : name === "layer" ? pathCell(cell) : name === "type" ? typeCell(cell)
                        : el("td", classes(name) ? {"class": classes(name)} : {}, cell));
      });
      return row;
    }
    /* A row is a call's cells; a folded row is {cells, members}. */
    data.layers.forEach(function (item) {
      if (Array.isArray(item)) rows.appendChild(layerRow(item));
      else addGroup(rows, layerRow(item.cells), item.members, layerRow);
    });
    table.appendChild(rows);
    body.appendChild(table);
    makeSortable(table);
  }

  /* The live bytes along the forward: a filled line, the peak marked and labelled with its module. */
  function memorySection(host, memory) {
    var width = 640, height = 140, top = 18, left = 4;
    var live = memory.live, peak = Math.max.apply(null, live), at = live.indexOf(peak);
    var steps = Math.max(live.length - 1, 1);
    function x(index) { return left + (width - 2 * left) * index / steps; }
    function y(value) { return height - (height - top) * value / peak; }
    var points = live.map(function (value, index) { return x(index).toFixed(1) + "," + y(value).toFixed(1); });
    var svg = svgEl("svg", {"class": "cb-memory-chart", viewBox: "0 0 " + width + " " + height, role: "img",
                            "aria-label": "live bytes along the forward; " + memory.label});
    svg.appendChild(svgEl("polygon", {"class": "cb-memory-area",
                                      points: x(0).toFixed(1) + "," + height + " " + points.join(" ") + " " +
                                              x(live.length - 1).toFixed(1) + "," + height}));
    svg.appendChild(svgEl("polyline", {"class": "cb-memory-line", points: points.join(" ")}));
    svg.appendChild(svgEl("circle", {"class": "cb-memory-peak", cx: x(at).toFixed(1), cy: y(peak).toFixed(1), r: 4}));
    var right = x(at) > width / 2;
    var label = svgEl("text", {"class": "cb-memory-label", x: (x(at) + (right ? -6 : 6)).toFixed(1), y: top - 6,
                               "text-anchor": right ? "end" : "start"});
    label.textContent = memory.label;
    svg.appendChild(label);
    host.appendChild(svg);
  }

  function draw(details) {
    var host = details.querySelector(".cb-draw");
    if (!host || host.getAttribute("data-drawn")) return;
    host.setAttribute("data-drawn", "1");
    var data = JSON.parse(details.querySelector("script.cb-data").textContent);
    var memory = details.querySelector(".cb-memory-host");
    if (memory && data.memory) memorySection(memory, data.memory);
    chartSection(host, data);
    blocksSection(host, data);
    movedSection(host, data);
    layersSection(host, data);
  }

  var summary = document.getElementById("cb-summary");
  if (summary) makeSortable(summary);
  document.querySelectorAll("details.cb-m").forEach(function (details) {
    details.addEventListener("toggle", function () { if (details.open) draw(details); });
    if (details.open) draw(details);
  });
  window.addEventListener("hashchange", function () {
    var target = document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") { target.open = true; }
  });
})();
