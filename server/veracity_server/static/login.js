// Sign-in: posts the form as JSON to the session endpoint, then goes where the person was going.
"use strict";

(function () {
  const form = document.getElementById("login-form");
  if (!form) return;
  const errorBox = document.getElementById("login-error");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    const button = form.querySelector("button[type=submit]");
    const body = {
      email: form.elements.email.value.trim(),
      password: form.elements.password.value,
    };
    if (!body.email || !body.password) {
      showError("Enter your email and password.");
      (body.email ? form.elements.password : form.elements.email).focus();
      return;
    }
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.sessionUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(body),
      });
      if (response.ok) {
        // data-next was checked on the server: a path on this site only.
        window.location.assign(form.dataset.next || "/profile/ibkr");
        return;
      }
      let message = "Sign-in failed (" + response.status + ").";
      try {
        const data = await response.json();
        if (data && data.error && data.error.message) message = data.error.message;
      } catch (ignored) {
        // Not JSON: keep the generic message.
      }
      if (response.status === 429) {
        const wait = response.headers.get("Retry-After");
        if (wait) message += " Try again in " + wait + " seconds.";
      }
      showError(message);
      form.elements.password.select();
      form.elements.password.focus();
    } catch (error) {
      showError("Veracity could not be reached. Check your connection and try again.");
    } finally {
      button.disabled = false;
    }
  });
})();
