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
