// The Profile page's Activity region: "More" appends the next, older page of a connector's
// audit log (an HTML fragment the server renders, so every event has one rendering path).
(function () {
  "use strict";

  async function loadMore(button) {
    const item = button.closest("li");
    const list = button.closest("ol");
    if (!item || !list) return;
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.url, {
        headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-store",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const holder = document.createElement("template");
      holder.innerHTML = await response.text();
      const next = holder.content.querySelector('[data-action="more-events"]');
      item.remove();
      list.append(holder.content);
      if (next) next.focus();
    } catch (ignored) {
      button.disabled = false; // a blip: the person can try again
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest('[data-action="more-events"]');
    if (button) loadMore(button);
  });
})();
