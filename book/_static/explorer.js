/* Convolution explorer: plain JavaScript, no dependencies, no network.
 *
 * Every element with a `data-explorer` attribute becomes an explorer when the page loads. Its
 * starting settings come from `data-preset` (JSON), e.g.
 *   <div data-explorer data-preset='{"input_size": 5, "kernel_size": 3, "stride": 2}'></div>
 *
 * The arithmetic follows convlib exactly (tests/test_explorer.py checks it in a browser):
 *   - output size: convlib.shapes.conv_output_size / conv_transpose_output_size;
 *   - parameters: convlib.shapes.conv_params (weights + bias);
 *   - multiply-adds: convlib.shapes.conv_macs; a transposed convolution costs what the
 *     convolution it transposes costs, conv_macs(out_channels, in_channels, k, input_size, groups);
 *   - errors: the first message convlib raises for conv2d / conv_transpose2d on these shapes
 *     (convlib/conv.py, convlib/_args.py), then for conv_params, in convlib's order.
 *
 * DOM contract (tests depend on it): <input> elements named input_size, kernel_size, stride,
 * padding, dilation, groups, in_channels, out_channels, output_padding and a checkbox named
 * transposed; updates on `input` and `change`; [data-role=output-size] holds the output height,
 * [data-role=error] the message (empty when valid), [data-role=torch-call] the PyTorch code.
 */
(function () {
  "use strict";

  var FIELDS = [
    { name: "input_size", label: "Input size (H = W)", value: 5, min: 0 },
    { name: "kernel_size", label: "Kernel size (kh = kw)", value: 3, min: 1 },
    { name: "stride", label: "Stride", value: 1, min: 1 },
    { name: "padding", label: "Padding", value: 0, min: 0 },
    { name: "dilation", label: "Dilation", value: 1, min: 1 },
    { name: "groups", label: "Groups", value: 1, min: 1 },
    { name: "in_channels", label: "In channels", value: 1, min: 1 },
    { name: "out_channels", label: "Out channels", value: 1, min: 1 },
    { name: "output_padding", label: "Output padding", value: 0, min: 0 },
  ];
  // Arguments of the call (not tensor shapes): a float gets convlib's TypeError for them.
  var TUPLE_ARGS = { stride: 1, padding: 1, dilation: 1, output_padding: 1 };
  var MAX_GRID = 32; // cells a side drawn; larger settings show the numbers only
  var MAX_CHANNELS = 32;
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#d6616b", "#8c6d31",
                 "#17becf"];
  var counter = 0;

  /* ---------------------------------------------------------------------------------------- */
  /* Arithmetic and validation: a transcription of convlib's checks, in convlib's order.       */

  function pair(v) { return "(" + v + ", " + v + ")"; }
  function one(v) { return "(" + v + ",)"; }
  function fail(type, message) { return { ok: false, type: type, message: message }; }

  /* Read the raw field texts into numbers; returns {values} or an error. */
  function parse(raw, transposed) {
    var values = {};
    for (var i = 0; i < FIELDS.length; i++) {
      var name = FIELDS[i].name;
      if (name === "output_padding" && !transposed) { values[name] = 0; continue; }
      var text = String(raw[name] === undefined ? "" : raw[name]).trim();
      var v = text === "" ? NaN : Number(text);
      if (!isFinite(v)) return fail("TypeError", name + " must be an int, got '" + text + "'");
      values[name] = v;
    }
    // Tensor sizes (the shapes of x and w) must be whole numbers before any call is possible.
    var shapes = ["input_size", "kernel_size", "in_channels", "out_channels"];
    for (var j = 0; j < shapes.length; j++) {
      if (!Number.isInteger(values[shapes[j]])) {
        return fail("TypeError", shapes[j] + " must be an int, got float " + values[shapes[j]]);
      }
    }
    return { ok: true, values: values };
  }

  function notInt(name, v) {
    if (Number.isInteger(v)) return null;
    if (TUPLE_ARGS[name]) {
      return fail("TypeError", name + " must be an int or a tuple of 2 ints, got float " + v);
    }
    return fail("TypeError", name + " must be an int, got float " + v);
  }

  function positive(name, v) {
    return v < 1 ? fail("ValueError", name + " must be positive, got " + pair(v)) : null;
  }

  function nonnegative(name, v) {
    return v < 0 ? fail("ValueError", name + " must be non-negative, got " + pair(v)) : null;
  }

  function first(checks) {
    for (var i = 0; i < checks.length; i++) {
      var result = checks[i]();
      if (result) return result;
    }
    return null;
  }

  /* The settings -> {ok, output, params, weights, macs} or {ok: false, type, message}. */
  function compute(raw) {
    var transposed = raw.transposed === true || raw.transposed === "true";
    var parsed = parse(raw, transposed);
    if (!parsed.ok) return parsed;
    var v = parsed.values;
    var i = v.input_size, k = v.kernel_size, s = v.stride, p = v.padding, d = v.dilation;
    var g = v.groups, cin = v.in_channels, cout = v.out_channels, op = v.output_padding;
    var name = transposed ? "conv_transpose2d" : "conv2d";
    var o;
    // convlib/conv.py _check_common: groups, then the weight's kernel size.
    var error = first([
      function () { return notInt("groups", g); },
      function () { return g < 1 ? fail("ValueError", "groups must be positive, got " + one(g)) : null; },
      function () {
        return k < 1 ? fail("ValueError", "weight's kernel size (kh, kw) in " + name +
                            " must be positive, got " + pair(k)) : null;
      },
    ]);
    if (error) return error;
    if (!transposed) {
      // convlib/conv.py _conv_args, then convlib.shapes.conv_output_size.
      error = first([
        function () { return notInt("stride", s); },
        function () { return notInt("dilation", d); },
        function () { return positive("stride", s); },
        function () { return positive("dilation", d); },
        function () { return notInt("padding", p); },
        function () { return nonnegative("padding", p); },
        function () {
          return cout % g ? fail("ValueError", "out_channels (weight.shape[0] = " + cout +
                                 ") must be divisible by groups=" + g) : null;
        },
        function () {
          return cin % g ? fail("ValueError", "in_channels (input channels = " + cin +
                                ") must be divisible by groups=" + g) : null;
        },
        function () { return nonnegative("size", i); },
        function () {
          var padded = i + 2 * p, effective = d * (k - 1) + 1;
          if (effective <= padded) return null;
          return fail("ValueError",
            "kernel_size too large for the input in spatial dim 0: the effective kernel " +
            "dilation*(kernel_size-1)+1 = " + d + "*(" + k + "-1)+1 = " + effective +
            " is larger than the padded input size+2*padding = " + i + "+2*" + p + " = " +
            padded + ", so the output would be empty; use a larger input, more padding, or a " +
            "smaller kernel_size/dilation");
        },
      ]);
      if (error) return error;
      o = Math.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1;
    } else {
      // convlib/conv.py _conv_transpose_args, then convlib.shapes.conv_transpose_output_size.
      error = first([
        function () { return notInt("stride", s); },
        function () { return notInt("padding", p); },
        function () { return notInt("output_padding", op); },
        function () { return notInt("dilation", d); },
        function () { return positive("stride", s); },
        function () { return nonnegative("padding", p); },
        function () { return nonnegative("output_padding", op); },
        function () { return positive("dilation", d); },
        function () {
          return cin % g ? fail("ValueError", "in_channels (input channels = " + cin +
                                ") must be divisible by groups=" + g) : null;
        },
        function () { return positive("size", i); },
        function () {
          if (op < s || op < d) return null;
          return fail("ValueError",
            "output_padding must be smaller than either stride or dilation, got output_padding=" +
            pair(op) + ", stride=" + pair(s) + ", dilation=" + pair(d) + " (spatial dim 0)");
        },
        function () {
          var size = (i - 1) * s - 2 * p + d * (k - 1) + op + 1;
          if (size >= 1) return null;
          return fail("ValueError",
            "padding too large for conv_transpose in spatial dim 0: (size-1)*stride - " +
            "2*padding + dilation*(kernel_size-1) + output_padding + 1 = (" + i + "-1)*" + s +
            " - 2*" + p + " + " + d + "*(" + k + "-1) + " + op + " + 1 = " + size +
            " < 1; use less padding");
        },
      ]);
      if (error) return error;
      o = (i - 1) * s - 2 * p + d * (k - 1) + op + 1;
    }
    // convlib.shapes.conv_params / conv_macs: channels positive and divisible by groups.
    error = first([
      function () { return cin < 1 ? fail("ValueError", "in_channels must be positive, got " + one(cin)) : null; },
      function () { return cout < 1 ? fail("ValueError", "out_channels must be positive, got " + one(cout)) : null; },
      function () {
        return (cin % g || cout % g) ? fail("ValueError", "in_channels=" + cin +
          " and out_channels=" + cout + " must both be divisible by groups=" + g) : null;
      },
    ]);
    if (error) return error;
    var B = BigInt;
    var weights = B(cout) * B(cin / g) * B(k) * B(k);
    // A transposed convolution is the adjoint of the convolution from out_channels to
    // in_channels: every input pixel meets every tap once.
    var positions = transposed ? B(i) * B(i) : B(o) * B(o);
    var macs = positions * (transposed ? B(cin) * B(cout / g) : B(cout) * B(cin / g)) * B(k) * B(k);
    return {
      ok: true, transposed: transposed, values: v, output: o,
      weights: weights, params: weights + B(cout), macs: macs,
    };
  }

  /* Which cells feed which: a list of [inRow, inCol, outRow, outCol, tapRow, tapCol].
   * Convolution: input rows in padded coordinates (-p .. i+p-1). Transposed: input rows 0..i-1,
   * output rows 0..o-1 (the padding crops the full output, output_padding extends it). */
  function connections(r) {
    var v = r.values, k = v.kernel_size, s = v.stride, p = v.padding, d = v.dilation;
    var edges = [];
    var a, b, ty, tx;
    if (!r.transposed) {
      for (a = 0; a < r.output; a++) for (b = 0; b < r.output; b++)
        for (ty = 0; ty < k; ty++) for (tx = 0; tx < k; tx++)
          edges.push([a * s - p + ty * d, b * s - p + tx * d, a, b, ty, tx]);
    } else {
      var n = v.input_size;
      for (a = 0; a < n; a++) for (b = 0; b < n; b++)
        for (ty = 0; ty < k; ty++) for (tx = 0; tx < k; tx++) {
          var y = a * s - p + ty * d, x = b * s - p + tx * d;
          if (y >= 0 && y < r.output && x >= 0 && x < r.output) edges.push([a, b, y, x, ty, tx]);
        }
    }
    return edges;
  }

  /* ---------------------------------------------------------------------------------------- */
  /* DOM helpers                                                                                */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (key === "text") node.textContent = attrs[key];
        else node.setAttribute(key, attrs[key]);
      }
    }
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    return node;
  }

  function fmt(big) { return big.toLocaleString("en-US"); }

  /* ---------------------------------------------------------------------------------------- */
  /* One explorer                                                                               */

  function Explorer(root) {
    this.root = root;
    this.id = "cx" + (++counter);
    this.active = null; // {side: "in" | "out", row, col}
    var preset = {};
    try { preset = JSON.parse(root.getAttribute("data-preset") || "{}"); }
    catch (e) { preset = {}; }
    this.build(preset);
    this.update();
  }

  Explorer.prototype.build = function (preset) {
    var self = this, root = this.root;
    root.classList.add("cx");
    root.textContent = "";
    var form = el("form", { class: "cx-controls", "aria-label": "Convolution settings" });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    this.inputs = {};
    FIELDS.forEach(function (f) {
      var id = self.id + "-" + f.name;
      var input = el("input", {
        type: "number", name: f.name, id: id, min: String(f.min), step: "1", inputmode: "numeric",
        value: String(preset[f.name] !== undefined ? preset[f.name] : f.value),
      });
      self.inputs[f.name] = input;
      var label = el("label", { for: id, text: f.label });
      var wrap = el("div", { class: "cx-field cx-field-" + f.name }, [label, input]);
      if (f.name === "output_padding") {
        wrap.appendChild(el("span", { class: "cx-hint", id: id + "-hint", text: "transposed only" }));
        input.setAttribute("aria-describedby", id + "-hint");
      }
      form.appendChild(wrap);
    });
    var tid = this.id + "-transposed";
    var check = el("input", { type: "checkbox", name: "transposed", id: tid });
    check.checked = preset.transposed === true;
    this.inputs.transposed = check;
    form.insertBefore(el("div", { class: "cx-field cx-switch" },
      [check, el("label", { for: tid, text: "Transposed" })]), form.firstChild);
    form.addEventListener("input", function () { self.update(); });
    form.addEventListener("change", function () { self.update(); });

    this.numbers = el("div", { class: "cx-numbers", "aria-live": "polite", "aria-atomic": "true" });
    this.errorBox = el("p", { class: "cx-error", role: "alert" });
    this.errorType = el("strong", { "data-role": "error-type" });
    this.error = el("span", { "data-role": "error" });
    this.errorBox.appendChild(this.errorType);
    this.errorBox.appendChild(document.createTextNode(" "));
    this.errorBox.appendChild(this.error);

    this.grids = el("div", { class: "cx-grids" });
    this.focusInfo = el("p", { class: "cx-focus-info", "data-role": "focus-info", "aria-live": "polite" });
    this.gridNote = el("p", { class: "cx-note" });
    this.grids.addEventListener("mouseover", function (e) { self.onPoint(e.target, false); });
    this.grids.addEventListener("focusin", function (e) { self.onPoint(e.target, true); });
    this.grids.addEventListener("mouseleave", function () { self.onLeave(); });
    this.grids.addEventListener("keydown", function (e) { self.onKey(e); });

    this.channels = el("div", { class: "cx-channels" });
    this.torchCode = el("code", { "data-role": "torch-call" });
    this.convlibCode = el("code", { "data-role": "convlib-call" });

    root.appendChild(form);
    root.appendChild(el("div", { class: "cx-status" }, [this.numbers, this.errorBox]));
    root.appendChild(el("div", { class: "cx-figure" }, [this.grids, this.focusInfo, this.gridNote]));
    root.appendChild(el("details", { class: "cx-channel-view", open: "" }, [
      el("summary", { text: "Channels: which input channels each output channel reads" }),
      this.channels,
    ]));
    root.appendChild(el("div", { class: "cx-code" }, [
      el("p", { class: "cx-code-title", text: "PyTorch" }),
      el("pre", {}, [this.torchCode]),
      el("p", { class: "cx-code-title", text: "convlib (same x and w)" }),
      el("pre", {}, [this.convlibCode]),
    ]));
  };

  Explorer.prototype.raw = function () {
    var raw = { transposed: this.inputs.transposed.checked };
    for (var i = 0; i < FIELDS.length; i++) raw[FIELDS[i].name] = this.inputs[FIELDS[i].name].value;
    return raw;
  };

  Explorer.prototype.update = function () {
    var raw = this.raw();
    var r = compute(raw);
    this.result = r;
    this.root.classList.toggle("cx-is-transposed", raw.transposed);
    this.root.classList.toggle("cx-is-invalid", !r.ok);
    this.renderNumbers(r);
    this.renderCode(raw, r);
    this.renderGrids(r);
    this.renderChannels(raw, r);
  };

  Explorer.prototype.renderNumbers = function (r) {
    var n = this.numbers;
    n.textContent = "";
    var outSize = el("span", { "data-role": "output-size", text: r.ok ? String(r.output) : "—" });
    var outText = el("span", { class: "cx-number" }, [
      el("span", { class: "cx-number-label", text: "Output" }),
      el("span", { class: "cx-number-value" }, [outSize,
        document.createTextNode(r.ok ? " × " + r.output + " × " + r.values.out_channels : "")]),
    ]);
    n.appendChild(outText);
    var items = [
      ["Parameters", "params", r.ok ? fmt(r.params) : "—", r.ok ? String(r.params) : ""],
      ["Weights (no bias)", "weights", r.ok ? fmt(r.weights) : "—", r.ok ? String(r.weights) : ""],
      ["Multiply-adds", "macs", r.ok ? fmt(r.macs) : "—", r.ok ? String(r.macs) : ""],
    ];
    items.forEach(function (item) {
      n.appendChild(el("span", { class: "cx-number" }, [
        el("span", { class: "cx-number-label", text: item[0] }),
        el("span", { class: "cx-number-value", "data-role": item[1], "data-value": item[3],
                     text: item[2] }),
      ]));
    });
    this.errorType.textContent = r.ok ? "" : r.type + ":";
    this.error.textContent = r.ok ? "" : r.message;
    this.errorBox.hidden = r.ok;
  };

  /* Python source for the current settings (runs as shown when the settings are valid). */
  Explorer.prototype.renderCode = function (raw, r) {
    var t = raw.transposed;
    var val = function (name) { return String(raw[name]).trim() || "?"; };
    var cin = val("in_channels"), cout = val("out_channels"), g = val("groups");
    var k = val("kernel_size"), i = val("input_size");
    var share = function (a, b) {
      var x = Number(a), y = Number(b);
      return Number.isInteger(x) && Number.isInteger(y) && y > 0 && x % y === 0 ? String(x / y)
        : a + " // " + b;
    };
    var w = t ? [cin, share(cout, g), k, k] : [cout, share(cin, g), k, k];
    var layout = t ? "(in_channels, out_channels/groups, kh, kw)"
                   : "(out_channels, in_channels/groups, kh, kw)";
    var args = t
      ? "stride=" + val("stride") + ", padding=" + val("padding") + ", output_padding=" +
        val("output_padding") + ", groups=" + g + ", dilation=" + val("dilation")
      : "stride=" + val("stride") + ", padding=" + val("padding") + ", dilation=" +
        val("dilation") + ", groups=" + g;
    var fn = t ? "conv_transpose2d" : "conv2d";
    var shape = r.ok ? "  # torch.Size([1, " + r.values.out_channels + ", " + r.output + ", " +
      r.output + "])" : "  # raises " + r.type;
    // convlib pads an empty (0 x 0) input like any other; PyTorch refuses it.
    var torchShape = r.ok && r.values.input_size === 0
      ? "  # PyTorch raises RuntimeError for a 0 x 0 input; convlib pads it" : shape;
    this.torchCode.textContent =
      "import torch\n" +
      "import torch.nn.functional as F\n\n" +
      "x = torch.randn(1, " + cin + ", " + i + ", " + i + ")  # (N, in_channels, H, W)\n" +
      "w = torch.randn(" + w.join(", ") + ")  # " + layout + "\n" +
      "y = F." + fn + "(x, w, " + args + ")\n" +
      "print(y.shape)" + torchShape;
    this.convlibCode.textContent =
      "import convlib\n\n" +
      "y = convlib." + fn + "(x, w, " + args + ")\n" +
      "print(y.shape)" + shape;
  };

  /* ---------------------------------------------------------------------------------------- */
  /* Grids: input (with its padding), kernel, output                                            */

  Explorer.prototype.renderGrids = function (r) {
    var grids = this.grids;
    grids.textContent = "";
    this.cells = { in: {}, out: {}, tap: {} };
    this.edges = null;
    this.gridNote.textContent = "";
    this.focusInfo.textContent = "";
    if (!r.ok) {
      this.gridNote.textContent = "Fix the settings to see the grid.";
      return;
    }
    var v = r.values, k = v.kernel_size, p = v.padding;
    var inLo = r.transposed ? 0 : -p;
    var inHi = r.transposed ? v.input_size : v.input_size + p;
    var side = Math.max(inHi - inLo, r.output, k);
    if (side > MAX_GRID) {
      this.gridNote.textContent = "The grid is drawn for up to " + MAX_GRID +
        " cells a side; these settings need " + side + ".";
      this.active = null;
      return;
    }
    var cell = Math.max(12, Math.min(30, Math.floor(240 / Math.max(inHi - inLo, r.output))));
    grids.style.setProperty("--cx-cell", cell + "px");
    this.edges = connections(r);
    this.byOut = {};
    this.byIn = {};
    var self = this;
    this.edges.forEach(function (e) {
      var ik = e[0] + "," + e[1], ok = e[2] + "," + e[3];
      (self.byIn[ik] = self.byIn[ik] || []).push(e);
      (self.byOut[ok] = self.byOut[ok] || []).push(e);
    });
    var n = v.input_size;
    grids.appendChild(this.grid("in", r.transposed ? "Input" : "Input (padding dashed)",
      inLo, inHi, function (row, col) {
        return row < 0 || col < 0 || row >= n || col >= n ? "cx-pad" : "cx-in";
      }));
    grids.appendChild(this.grid("tap", "Kernel " + k + " × " + k +
      (v.dilation > 1 ? " (dilation " + v.dilation + ")" : ""), 0, k, function () { return "cx-tap"; }));
    grids.appendChild(this.grid("out", "Output " + r.output + " × " + r.output,
      0, r.output, function () { return "cx-out"; }));
    if (r.transposed) {
      this.gridNote.textContent = "Transposed: each input cell adds the kernel times its value " +
        "into the output, " + v.stride + " cells apart; padding " + p + " crops the full output " +
        "on every side, output_padding " + v.output_padding + " adds rows and columns at the " +
        "bottom and right.";
    }
    var a = this.active;
    var keep = a && this.cells[a.side][a.row + "," + a.col];
    this.setActive(keep ? a : { side: "out", row: 0, col: 0 }, false);
  };

  Explorer.prototype.grid = function (side, title, lo, hi, cls) {
    var names = { in: "input", out: "output", tap: "kernel" };
    var count = hi - lo;
    var box = el("div", {
      class: "cx-grid cx-grid-" + side, role: "grid", "aria-label": title,
      "data-side": side,
    });
    box.style.gridTemplateColumns = "repeat(" + count + ", var(--cx-cell))";
    var first = true;
    for (var row = lo; row < hi; row++) {
      var line = el("div", { role: "row", class: "cx-row" });
      for (var col = lo; col < hi; col++) {
        var c = el("div", {
          role: "gridcell", class: "cx-cell " + cls(row, col), "data-side": side,
          "data-row": String(row), "data-col": String(col), tabindex: first ? "0" : "-1",
          "aria-label": names[side] + " row " + row + ", column " + col +
            (cls(row, col) === "cx-pad" ? " (padding)" : ""),
        });
        first = false;
        this.cells[side][row + "," + col] = c;
        line.appendChild(c);
      }
      box.appendChild(line);
    }
    return el("figure", { class: "cx-panel" }, [el("figcaption", { text: title }), box]);
  };

  Explorer.prototype.onPoint = function (target, focused) {
    var cell = target.closest ? target.closest(".cx-cell") : null;
    if (!cell || cell.getAttribute("data-side") === "tap") {
      if (cell && focused) this.describeTap(cell);
      return;
    }
    this.setActive({
      side: cell.getAttribute("data-side"),
      row: Number(cell.getAttribute("data-row")),
      col: Number(cell.getAttribute("data-col")),
    }, focused);
  };

  Explorer.prototype.onLeave = function () {
    var focused = this.grids.contains(document.activeElement) ? document.activeElement : null;
    if (focused) this.onPoint(focused, true);
  };

  Explorer.prototype.onKey = function (e) {
    var cell = e.target.closest ? e.target.closest(".cx-cell") : null;
    if (!cell) return;
    var side = cell.getAttribute("data-side");
    var row = Number(cell.getAttribute("data-row")), col = Number(cell.getAttribute("data-col"));
    var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    var next = null;
    if (moves[e.key]) {
      next = this.cells[side][(row + moves[e.key][0]) + "," + (col + moves[e.key][1])];
    } else if (e.key === "Home" || e.key === "End") {
      var keys = Object.keys(this.cells[side]);
      next = this.cells[side][keys[e.key === "Home" ? 0 : keys.length - 1]];
    }
    if (!next) return;
    e.preventDefault();
    cell.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  };

  Explorer.prototype.describeTap = function (cell) {
    var ty = cell.getAttribute("data-row"), tx = cell.getAttribute("data-col");
    var d = this.result.values.dilation;
    this.focusInfo.textContent = "Kernel tap (" + ty + ", " + tx + ") reads the input " +
      ty * d + " rows and " + tx * d + " columns from the window's top-left corner.";
  };

  Explorer.prototype.setActive = function (active, focused) {
    if (!this.edges) return;
    this.active = active;
    var self = this;
    ["in", "out", "tap"].forEach(function (side) {
      for (var key in self.cells[side]) {
        self.cells[side][key].classList.remove("cx-lit", "cx-source");
      }
    });
    var key = active.row + "," + active.col;
    var source = this.cells[active.side][key];
    if (!source) return;
    source.classList.add("cx-source");
    var edges = (active.side === "out" ? this.byOut : this.byIn)[key] || [];
    var other = active.side === "out" ? "in" : "out";
    var lit = {};
    edges.forEach(function (e) {
      var k = active.side === "out" ? e[0] + "," + e[1] : e[2] + "," + e[3];
      var c = self.cells[other][k];
      if (c) { c.classList.add("cx-lit"); lit[k] = true; }
      var t = self.cells.tap[e[4] + "," + e[5]];
      if (t) t.classList.add("cx-lit");
    });
    // Keep the roving tab stop on the cell last pointed at, so Tab returns to it.
    if (focused) {
      for (var c in this.cells[active.side]) this.cells[active.side][c].setAttribute("tabindex", "-1");
      source.setAttribute("tabindex", "0");
    }
    var count = Object.keys(lit).length;
    var here = (active.side === "out" ? "Output" : "Input") + " (" + active.row + ", " +
      active.col + ")";
    var padded = 0, n = this.result.values.input_size;
    if (active.side === "out") {
      Object.keys(lit).forEach(function (k) {
        var rc = k.split(",").map(Number);
        if (rc[0] < 0 || rc[1] < 0 || rc[0] >= n || rc[1] >= n) padded++;
      });
      this.focusInfo.textContent = here + " reads " + count + " input cell" +
        (count === 1 ? "" : "s") + (padded ? " (" + padded + " of them padding)" : "") +
        " through " + edges.length + " kernel tap" + (edges.length === 1 ? "" : "s") + ".";
    } else {
      this.focusInfo.textContent = here + " feeds " + count + " output cell" +
        (count === 1 ? "" : "s") + ".";
    }
  };

  /* ---------------------------------------------------------------------------------------- */
  /* Channels: lines from each output channel to the input channels of its group                */

  Explorer.prototype.renderChannels = function (raw, r) {
    var box = this.channels;
    box.textContent = "";
    if (!r.ok) {
      box.appendChild(el("p", { class: "cx-note", text: "Fix the settings to see the channels." }));
      return;
    }
    var v = r.values, cin = v.in_channels, cout = v.out_channels, g = v.groups;
    var per = cin / g;
    var kind = g === 1 ? (v.kernel_size === 1 ? "pointwise (1 × 1)" : "standard")
      : g === cin ? "depthwise" + (cout > cin ? " (multiplier " + cout / cin + ")" : "")
      : "grouped";
    var who = cout === 1 ? "the output channel" : "each of the " + cout + " output channels";
    var what = per < cin ? per + " of the " + cin + " input channels"
      : cin === 1 ? "the input channel" : "all " + cin + " input channels";
    box.appendChild(el("p", { class: "cx-channel-summary", "data-role": "channel-summary",
      text: kind[0].toUpperCase() + kind.slice(1) + ": groups=" + g + ", " + who + " reads " +
        what + "." }));
    if (cin > MAX_CHANNELS || cout > MAX_CHANNELS) {
      box.appendChild(el("p", { class: "cx-note", text: "Drawn for up to " + MAX_CHANNELS +
        " channels a side." }));
      return;
    }
    var n = Math.max(cin, cout), step = 16, height = n * step + 8, width = 260;
    var svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, class: "cx-channel-svg",
                             role: "img", "aria-label": "Connections from input channels (left) " +
                             "to output channels (right), coloured by group" });
    var yIn = function (c) { return 4 + ((n - cin) / 2 + c) * step + step / 2; };
    var yOut = function (c) { return 4 + ((n - cout) / 2 + c) * step + step / 2; };
    var perOut = cout / g;
    for (var o = 0; o < cout; o++) {
      var group = Math.floor(o / perOut);
      for (var c = group * per; c < (group + 1) * per; c++) {
        svg.appendChild(svgEl("line", {
          x1: 58, y1: yIn(c), x2: 202, y2: yOut(o), stroke: PALETTE[group % PALETTE.length],
          "stroke-width": 1.2, "data-in": c, "data-out": o, class: "cx-edge",
        }));
      }
    }
    var addBox = function (x, y, fill, label, anchor, lx) {
      svg.appendChild(svgEl("rect", { x: x, y: y - 6, width: 14, height: 12, fill: fill,
                                      stroke: "#404040", "stroke-width": 0.8 }));
      var t = svgEl("text", { x: lx, y: y + 4, "text-anchor": anchor, "font-size": 10 });
      t.textContent = label;
      svg.appendChild(t);
    };
    for (c = 0; c < cin; c++) addBox(44, yIn(c), "#9ecae1", "in " + c, "end", 40);
    for (o = 0; o < cout; o++) addBox(202, yOut(o), "#a1d99b", "out " + o, "start", 220);
    box.appendChild(svg);
  };

  /* ---------------------------------------------------------------------------------------- */

  function init() {
    var roots = document.querySelectorAll("[data-explorer]");
    for (var i = 0; i < roots.length; i++) {
      if (!roots[i].convExplorer) roots[i].convExplorer = new Explorer(roots[i]);
    }
  }

  window.convExplorer = { compute: compute, connections: connections, init: init };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
