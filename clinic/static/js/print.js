// The invoice page's "Print" button (shown only when JavaScript runs; the browser's own print works too).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.js-print")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
});
