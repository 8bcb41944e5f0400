// Progressive enhancement only: every form also works without JavaScript.
document.documentElement.classList.replace("no-js", "js");
document.addEventListener("DOMContentLoaded", () => {
  // The staff menu on a phone: a disclosure button (aria-expanded) in front of the list it shows.
  const toggle = document.querySelector(".site-nav__toggle");
  if (toggle) {
    const menu = document.getElementById(toggle.getAttribute("aria-controls"));
    const show = (open) => {
      toggle.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("is-open", open);
    };
    toggle.addEventListener("click", () => show(toggle.getAttribute("aria-expanded") !== "true"));
    toggle.parentElement.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        show(false);
        toggle.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!toggle.parentElement.contains(event.target)) show(false);
    });
  }

  for (const select of document.querySelectorAll("select.js-autosubmit")) {
    const form = select.form;
    for (const button of form.querySelectorAll(".js-hide-when-autosubmit")) {
      button.hidden = true;
    }
    select.addEventListener("change", () => form.requestSubmit());
  }
});

// A table wider than its screen scrolls sideways inside its .table-wrap; the keyboard must reach what is
// hidden there too, so such a wrapper becomes a focusable region named by its table's caption (and stops
// being one when the screen grows wide enough). The board's live refresh replaces its tables: re-checked.
function keyboardScrollableTables(root) {
  for (const wrap of root.querySelectorAll(".table-wrap")) {
    const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    if (scrolls && !wrap.hasAttribute("tabindex")) {
      wrap.tabIndex = 0;
      wrap.dataset.scrollRegion = "";
      const caption = wrap.querySelector("caption");
      if (caption) {
        caption.id = caption.id || `table-caption-${Math.random().toString(36).slice(2)}`;
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-labelledby", caption.id);
      }
    } else if (!scrolls && "scrollRegion" in wrap.dataset) {
      for (const name of ["tabindex", "role", "aria-labelledby", "data-scroll-region"]) wrap.removeAttribute(name);
    }
  }
}
document.addEventListener("DOMContentLoaded", () => {
  keyboardScrollableTables(document);
  window.addEventListener("resize", () => keyboardScrollableTables(document));
  document.addEventListener("toggle", () => keyboardScrollableTables(document), true);  // a <details> opened
  new MutationObserver(() => keyboardScrollableTables(document)).observe(document.body, { childList: true, subtree: true });
});
