// MathJax 3 settings for the minigrad site; loaded before assets/mathjax/tex-svg.js on
// the pages that have math (docs/hooks.py adds both). Only elements of class
// "arithmatex" are typeset: pymdownx.arithmatex writes them in the Markdown pages and
// docs/hooks.py in the notebook pages, so a "$" anywhere else stays a dollar sign.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: false,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  },
  svg: {fontCache: "global"}
};
