// Helpers the Profile → IBKR Integration page's scripts share: announcements for screen readers,
// API calls that carry the CSRF token (a 401 goes to the sign-in page), safe links, formats.
"use strict";

window.VeracityPage = (function () {
  const page = document.getElementById("ibkr-page");
  if (!page) return null;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.content : "";
  const announcer = document.getElementById("announcer");

  function announce(text) {
    // Clear first so the same sentence twice is still read out.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // Once the page is being left (signed out here, or its session ended elsewhere), background
  // polls are cancelled: an answer arriving after that would send the person somewhere else
  // (a 401 poll goes to "/login?next=…" and would race the sign-out's own "/login").
  const background = new AbortController();
  let leaving = false;

  function stopBackground() {
    leaving = true;
    background.abort();
  }

  function goToLogin() {
    if (leaving) return;
    stopBackground();
    window.location.assign(page.dataset.loginUrl);
  }

  async function errorMessage(response) {
    try {
      const data = await response.json();
      if (data && data.error && data.error.message) return data.error.message;
    } catch (ignored) {
      // Not JSON.
    }
    return "HTTP " + response.status;
  }

  // Every unsafe request carries the session's CSRF token in a header, never in the URL.
  // `inBackground`: a poll, not something the person asked for; it is cancelled when the page
  // is left (see stopBackground).
  async function api(method, url, body, inBackground) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken };
    const options = { method: method, headers: headers, credentials: "same-origin" };
    if (inBackground) options.signal = background.signal;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    if (response.status === 401) {
      goToLogin();
      throw new Error("Your session has ended. Please sign in again.");
    }
    return response;
  }

  function fill(container, name, text) {
    container.querySelectorAll('[data-field="' + name + '"]').forEach(function (element) {
      element.textContent = text;
    });
  }

  function safeHref(url) {
    // Only http(s) or same-site links from the metadata; never javascript: or data: URLs.
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (ignored) {
      return null;
    }
  }

  function formatSize(bytes) {
    const size = Number(bytes);
    if (!Number.isFinite(size) || size < 0) return "—";
    if (size < 1024) return size + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = size / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return value.toFixed(1) + " " + units[unit] + " (" + size.toLocaleString("en-US") + " bytes)";
  }

  function formatDate(text) {
    const moment = new Date(text);
    if (Number.isNaN(moment.getTime())) return text || "—";
    return moment.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  return { page: page, announce: announce, goToLogin: goToLogin, errorMessage: errorMessage,
           api: api, stopBackground: stopBackground, backgroundSignal: background.signal,
           fill: fill, safeHref: safeHref, formatSize: formatSize, formatDate: formatDate };
})();
