// The day board keeps itself current: every few seconds it fetches the server-rendered live part
// (counts, patients, timeline) and swaps it in when it changed. Without JavaScript the board still
// works; it just needs a reload.
(() => {
  "use strict";

  function start() {
    const live = document.getElementById("board-live");
    if (!live || !window.fetch) {
      return;
    }
    const url = live.dataset.liveUrl;
    const seconds = Math.max(1, Number(live.dataset.refreshSeconds) || 20);
    let last = null; // the last fragment as the server sent it (innerHTML is normalised by the browser)
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { "X-Requested-With": "fetch", Accept: "text/html" },
          cache: "no-store",
        });
        if (!response.ok || response.redirected) {
          return; // signed out or a hiccup: keep what is shown, try again next time
        }
        const html = await response.text();
        if (html === last) {
          return;
        }
        const focused = document.activeElement;
        const focusKey = focused && live.contains(focused) ? focused.getAttribute("aria-label") || focused.textContent : null;
        live.innerHTML = html;
        last = html;
        live.dataset.refreshed = String(Date.now());
        if (focusKey) {
          for (const candidate of live.querySelectorAll("a, button")) {
            if ((candidate.getAttribute("aria-label") || candidate.textContent) === focusKey) {
              candidate.focus();
              break;
            }
          }
        }
      } catch (error) {
        // offline for a moment: the next round tries again
      } finally {
        busy = false;
      }
    }

    window.setInterval(refresh, seconds * 1000);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        refresh();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
