// The site is built to work offline: MathJax is not loaded (formulas show as their TeX source).
