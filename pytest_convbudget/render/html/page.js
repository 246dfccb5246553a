/* pytest-convbudget HTML report: the page's data is one JSON blob (#cb-data); the summary's rows
   and the measurements' sections are drawn from it, those over budget, regressed, changed or new
   (and the first few hundred) when the page loads, the others when asked for, and each section's
   charts when it is first opened: a page of 5,000 measurements is usable at once.
   Counts arrive as decimal strings and are shown through BigInt: never rounded. */
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var FIGURES = [["flops", "FLOPs"], ["params", "params"], ["macs", "MACs"]];  // the chart's switch
  var DATA = JSON.parse(document.getElementById("cb-data").textContent);
  // Each kind's colour comes from the registry (pytest_convbudget.kinds), through the page's data.
  var KIND_COLOURS = DATA.colours;
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

  function draw(details, row) {
    var host = details.querySelector(".cb-draw");
    if (!host || host.getAttribute("data-drawn")) return;
    host.setAttribute("data-drawn", "1");
    var data = DATA.detail[row.detail];
    var memory = details.querySelector(".cb-memory-host");
    if (memory && data.memory) memorySection(memory, data.memory);
    chartSection(host, data);
    blocksSection(host, data);
    movedSection(host, data);
    layersSection(host, data);
  }

  /* The rows of the data, each an object of its fields (the blob holds them as lists). */
  function unpack(values, fields) {
    var item = {};
    fields.forEach(function (name, index) { item[name] = values[index]; });
    return item;
  }
  function figureOf(values) {
    var f = unpack(values, DATA.figure_fields);
    f.label = DATA.labels[f.figure];
    if (f.limit) f.limit = {value: f.limit[0], short: f.limit[1], source: f.limit[2], used: f.limit[3], over: f.limit[4]};
    if (f.before) f.before = {value: f.before[0], short: f.before[1], delta: f.before[2], percent: f.before[3]};
    return f;
  }
  var FIGURES_POOL = DATA.figure.map(figureOf);
  var ROWS = DATA.rows.map(function (values, index) {
    var row = unpack(values, DATA.row_fields);
    row.index = index;
    row.anchor = "m" + index;
    row.figures = row.figures.map(function (place) { return FIGURES_POOL[place]; });
    row.size_figures = row.size_figures.map(function (place) { return FIGURES_POOL[place]; });
    row.memory = row.memory === null ? null : DATA.memory[row.memory];
    row.notes = DATA.notes[row.notes];
    return row;
  });
  function badge(kind, text) { return el("span", {"class": "badge " + kind}, text); }
  function oneDecimal(number) { return Number(number).toFixed(1); }

  /* One row of the summary table. */
  function summaryRow(m) {
    var tr = el("tr", {"class": "status-" + m.status_class + (m.regressed ? " regressed" : ""), "data-anchor": m.anchor});
    tr.appendChild(el("td", {"class": "num", "data-sort": String(m.index)}, String(m.index + 1)));
    var test = el("td", {"class": "wrap"}), link = el("a", {href: "#" + m.anchor});
    link.appendChild(el("code", {}, m.test_id));
    test.appendChild(link);
    tr.appendChild(test);
    var name = el("td", {"class": "name"});
    name.appendChild(el("span", {"class": "cb-cap"}, m.name));
    tr.appendChild(name);
    m.figures.forEach(function (f) {
      var moved = f.before && f.before.delta !== "0";
      var title = exact(f.value) + (f.limit ? " of " + f.limit.short + " (" + (f.limit.used === null ? "-" : oneDecimal(f.limit.used)) + "%)" : "");
      var td = el("td", {"class": "num" + (moved ? " moved" : ""), "data-sort": f.value, "data-figure": f.figure,
                         title: title});
      if (moved) {
        var pair = el("span", {"class": "cb-pair"});
        pair.appendChild(el("span", {"class": "nw"}, f.before.short + " →"));
        pair.appendChild(document.createTextNode(" "));
        pair.appendChild(el("span", {"class": "nw"}, f.short));
        td.appendChild(pair);
        td.appendChild(document.createTextNode(" "));
        td.appendChild(el("span", {"class": f.before.delta[0] !== "-" ? "up" : "down"}, "(" + f.before.percent + ")"));
      } else {
        td.textContent = f.short;
      }
      tr.appendChild(td);
    });
    tr.appendChild(el("td", {"class": "budget"}, m.budget));
    var room = el("td", {"class": "num", "data-sort": m.headroom === null ? "1000" : String(m.headroom)});
    if (m.headroom === null) {
      room.textContent = "-";
    } else {
      var meter = el("span", {"class": "cb-meter" + (m.over ? " over" : m.headroom < 10 ? " warn" : ""),
                              title: oneDecimal(m.used) + "% of the tightest limit used"});
      meter.appendChild(el("span", {style: "width: " + oneDecimal(m.used) + "%"}));
      room.appendChild(meter);
      room.appendChild(document.createTextNode(oneDecimal(m.headroom) + "%"));
    }
    tr.appendChild(room);
    var badges = el("td", {"class": "badges", "data-sort": m.status});
    badges.appendChild(badge(m.status_class, m.status));
    if (m.regressed) {
      badges.appendChild(document.createTextNode(" "));
      badges.appendChild(badge("regressed", "regressed"));
    }
    tr.appendChild(badges);
    if (DATA.compared) {
      var against = el("td");
      against.appendChild(badge(m.baseline.replace(/ /g, "-"), m.baseline));
      tr.appendChild(against);
    }
    return tr;
  }

  /* A measurement's folded section: its summary line now, its body when first opened. */
  function section(m) {
    var details = el("details", {"class": "cb-m status-" + m.status_class, id: m.anchor});
    var summary = el("summary");
    summary.appendChild(badge(m.status_class, m.status));
    if (m.regressed) { summary.appendChild(document.createTextNode(" ")); summary.appendChild(badge("regressed", "regressed")); }
    if (m.baseline === "new" || m.baseline === "changed" || m.baseline === "not compared") {
      summary.appendChild(document.createTextNode(" "));
      summary.appendChild(badge(m.baseline.replace(/ /g, "-"), m.baseline));
    }
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("strong", {}, m.name));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("code", {}, m.test_id));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", {"class": "muted"}, m.model + "; " + m.figures.map(function (f) {
      return f.label + " " + f.short;
    }).join(", ")));
    details.appendChild(summary);
    details.addEventListener("toggle", function () { if (details.open) { body(details, m); draw(details, m); } });
    if (m.open) details.open = true;
    return details;
  }

  function body(details, m) {
    if (details.querySelector(".cb-body")) return;
    var host = el("div", {"class": "cb-body"});
    var changed = m.baseline === "changed";
    var table = el("table", {"class": "cb-figures"});
    headRow(table, changed ? ["", "measured", "limit", "used", "baseline", "change"] : ["", "measured", "limit", "used"], 1);
    m.figures.concat(m.size_figures).forEach(function (f) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, f.label));
      tr.appendChild(el("td", {"class": "num", "data-total": f.figure}, exact(f.value)));
      var limit = el("td", {"class": "num"});
      if (f.limit) {
        limit.appendChild(document.createTextNode(exact(f.limit.value) + " "));
        limit.appendChild(el("span", {"class": "muted"}, "[" + f.limit.source + "]"));
      } else {
        limit.textContent = "-";
      }
      tr.appendChild(limit);
      tr.appendChild(el("td", {"class": "num" + (f.limit && f.limit.over ? " up" : "")},
                        f.limit && f.limit.used !== null ? oneDecimal(f.limit.used) + "%" : "-"));
      if (changed) {
        tr.appendChild(el("td", {"class": "num"}, f.before ? exact(f.before.value) : "-"));
        tr.appendChild(el("td", {"class": "num"}, f.before ? f.before.percent : "-"));
      }
      table.appendChild(tr);
    });
    host.appendChild(table);
    if (m.regressed) host.appendChild(el("p", {"class": "up"}, m.regression));
    if (m.mismatch) host.appendChild(el("p", {"class": "up"}, m.mismatch));
    if (m.notes.length) {
      var list = el("ul", {"class": "cb-notes"});
      m.notes.forEach(function (note) { list.appendChild(el("li", {}, note)); });
      host.appendChild(list);
    }
    if (m.memory) {
      var figure = el("figure", {"class": "cb-memory"}), caption = el("figcaption");
      caption.appendChild(document.createTextNode("Live bytes along the forward (the whole batch): peak "));
      caption.appendChild(el("strong", {}, m.memory.peak));
      caption.appendChild(document.createTextNode(" (" + m.memory.peak_exact + " bytes) while "));
      caption.appendChild(el("code", {}, m.memory.module));
      caption.appendChild(document.createTextNode(" ran"));
      figure.appendChild(caption);
      figure.appendChild(el("div", {"class": "cb-memory-host"}));
      host.appendChild(figure);
    }
    host.appendChild(el("div", {"class": "cb-draw"}));
    details.appendChild(host);
  }

  /* Rows and sections [from, to) drawn, in one pass each. */
  var summaryTable = document.getElementById("cb-summary");
  var sections = document.getElementById("cb-sections");
  var drawnRows = 0;
  function drawRows(to) {
    if (to <= drawnRows) return;
    var rows = document.createDocumentFragment(), parts = document.createDocumentFragment(), opened = [];
    ROWS.slice(drawnRows, to).forEach(function (m) {
      rows.appendChild(summaryRow(m));
      var details = section(m);
      parts.appendChild(details);
      if (m.open) opened.push([details, m]);
    });
    summaryTable.tBodies[0].appendChild(rows);
    sections.appendChild(parts);
    drawnRows = to;
    opened.forEach(function (pair) { body(pair[0], pair[1]); draw(pair[0], pair[1]); });
  }
  function showAll() {
    drawRows(ROWS.length);
    var rest = document.getElementById("cb-show-all");
    if (rest) rest.parentNode.removeChild(rest);
  }
  function openTarget() {
    var match = /^#m(\d+)$/.exec(location.hash);
    if (!match) return;
    if (Number(match[1]) >= drawnRows) showAll();
    var target = document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
  }

  if (summaryTable) {
    drawRows(DATA.drawn);
    makeSortable(summaryTable);
    var more = document.getElementById("cb-show-all");
    if (more) more.addEventListener("click", showAll);
  }
  openTarget();
  window.addEventListener("hashchange", openTarget);
  if (window.performance && performance.mark) performance.mark("cb-ready");
})();
