// Progressive enhancement only: every form also works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select.js-autosubmit")) {
    const form = select.form;
    for (const button of form.querySelectorAll(".js-hide-when-autosubmit")) {
      button.hidden = true;
    }
    select.addEventListener("change", () => form.requestSubmit());
  }
});
