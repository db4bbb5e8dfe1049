// Typeset the math in search results (owner: site).
// Sphinx builds each result's summary from the page's text, so a formula arrives as raw TeX,
// "\(3\times 3\)", after MathJax has already typeset the page. Cut formulas that the 240-character
// window split in half, then let MathJax typeset the rest. Loaded on search.html only.
(() => {
  const PAIRS = [["\\(", "\\)"], ["\\[", "\\]"]];

  // [start, end) of the snippet that holds no formula cut by its start or its end.
  const keptRange = (text) => {
    let start = 0;
    let end = text.length;
    for (const [open, close] of PAIRS) {
      const firstClose = text.indexOf(close, start);
      const firstOpen = text.indexOf(open, start);
      if (firstClose !== -1 && (firstOpen === -1 || firstClose < firstOpen)) {
        start = firstClose + close.length;
      }
    }
    for (const [open, close] of PAIRS) {
      const lastOpen = text.lastIndexOf(open, end);
      if (lastOpen >= start && text.indexOf(close, lastOpen) === -1) end = Math.min(end, lastOpen);
    }
    return [start, Math.max(start, end)];
  };

  // Cut the summary's text nodes to that range; highlighted search terms (<span>s) stay.
  const trimBrokenMath = (summary) => {
    const walker = document.createTreeWalker(summary, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    const text = nodes.map((n) => n.data).join("");
    const [start, end] = keptRange(text);
    if (start === 0 && end === text.length) return;
    let offset = 0;
    for (const node of nodes) {
      const from = Math.min(Math.max(start - offset, 0), node.data.length);
      const to = Math.min(Math.max(end - offset, 0), node.data.length);
      offset += node.data.length;
      node.data = node.data.slice(from, to);
    }
    if (start > 0) summary.prepend("… ");
    if (end < text.length) summary.append(" …");
  };

  let queued = false;
  const typeset = (results) => {
    if (queued) return;
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise && MathJax.typesetPromise)) {
      setTimeout(() => typeset(results), 100); // MathJax is loaded with "defer": not ready yet
      return;
    }
    queued = true;
    MathJax.startup.promise = MathJax.startup.promise.then(() => {
      queued = false;
      const fresh = [];
      for (const summary of results.querySelectorAll("p.context:not([data-site-math])")) {
        summary.dataset.siteMath = "1";
        trimBrokenMath(summary);
        fresh.push(summary);
      }
      return fresh.length ? MathJax.typesetPromise(fresh) : null;
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver(() => typeset(results)).observe(results, { childList: true, subtree: true });
  });
})();
