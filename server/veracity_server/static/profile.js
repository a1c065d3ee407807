// Profile → IBKR Integration: the page works as rendered by the server; this script adds the
// live parts: download details, one-time token with countdown, revoke and delete with
// confirmation, copy buttons, sign-out buttons, and polling of the connectors and portfolio
// regions (re-rendered by the server). Shared helpers: page_common.js.
"use strict";

(function () {
  const shared = window.VeracityPage;  // page_common.js, loaded first
  if (!shared) return;
  const page = shared.page;
  const { announce, api, backgroundSignal, errorMessage, fill, formatDate, formatSize, goToLogin,
          safeHref, stopBackground } = shared;
  const pollInterval = Math.max(500, Number(page.dataset.pollIntervalMs) || 10000);

  // ---- Download card -------------------------------------------------------------------------
  const downloadCard = document.getElementById("download-card");

  function showDownloadState(state) {
    downloadCard.querySelectorAll("[data-state]").forEach(function (element) {
      element.hidden = element.dataset.state !== state;
    });
    downloadCard.setAttribute("aria-busy", state === "loading" ? "true" : "false");
  }

  async function loadDownload() {
    showDownloadState("loading");
    try {
      const response = await fetch(downloadCard.dataset.metadataUrl, {
        headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
      });
      if (response.status === 503) {
        showDownloadState("not-configured");
        return;
      }
      if (!response.ok) {
        fill(downloadCard, "error", await errorMessage(response));
        showDownloadState("error");
        return;
      }
      const meta = await response.json();
      fill(downloadCard, "version", meta.version || "—");
      const published = downloadCard.querySelector('[data-field="published_at"]');
      published.textContent = formatDate(meta.published_at);
      published.setAttribute("datetime", meta.published_at || "");
      fill(downloadCard, "size", formatSize(meta.size));
      fill(downloadCard, "sha256", meta.sha256 || "—");
      const notes = downloadCard.querySelector('[data-field="notes"]');
      notes.textContent = meta.notes || "";
      notes.hidden = !meta.notes;
      const download = downloadCard.querySelector('[data-field="download_url"]');
      const downloadHref = safeHref(meta.download_url);
      download.hidden = !downloadHref;
      if (downloadHref) {
        download.href = downloadHref;
        download.textContent = "Download version " + (meta.version || "") + " for Windows";
      }
      const notesLink = downloadCard.querySelector('[data-field="release_notes_url"]');
      const notesHref = meta.release_notes_url ? safeHref(meta.release_notes_url) : null;
      notesLink.hidden = !notesHref;
      if (notesHref) notesLink.href = notesHref;
      showDownloadState("ready");
    } catch (error) {
      fill(downloadCard, "error", "Veracity could not be reached.");
      showDownloadState("error");
    }
  }

  // ---- Copy buttons --------------------------------------------------------------------------
  async function copyFrom(button) {
    const source = document.getElementById(button.dataset.copyFrom);
    if (!source) return;
    const text = "value" in source ? source.value : source.textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (ignored) {
      // Clipboard API refused (permissions, insecure origin): select the text instead.
    }
    if (!copied) {
      // Select the text so the person can press Ctrl+C (and try the old copy command).
      if ("select" in source) {
        source.focus();
        source.select();
      } else {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
      }
      copied = Boolean(document.execCommand && document.execCommand("copy"));
    }
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
    announce(copied ? "Copied to the clipboard." : "Selected. Press Control C to copy.");
    window.setTimeout(function () { button.textContent = original; }, 2000);
  }

  // ---- One-time token ------------------------------------------------------------------------
  const pairingCard = document.getElementById("pairing-card");
  const tokenPanel = document.getElementById("token-panel");
  const tokenInput = document.getElementById("token-value");
  const tokenExpired = document.getElementById("token-expired");
  const tokenPaired = document.getElementById("token-paired");
  const generateButton = document.getElementById("generate-token");
  const token = { timer: null, expiresAt: 0, clockOffset: 0, knownConnectors: null };

  function connectorIds() {
    return new Set(Array.from(document.querySelectorAll("li[data-connector-id]"), function (item) {
      return item.dataset.connectorId;
    }));
  }

  function clearToken() {
    window.clearInterval(token.timer);
    token.timer = null;
    token.knownConnectors = null;
    tokenInput.value = "";
    tokenPanel.hidden = true;
  }

  function tickCountdown() {
    const remaining = Math.max(0, Math.floor((token.expiresAt - (Date.now() + token.clockOffset)) / 1000));
    const minutes = Math.floor(remaining / 60);
    const seconds = String(remaining % 60).padStart(2, "0");
    fill(pairingCard, "countdown", minutes + ":" + seconds);
    document.getElementById("token-expiry").classList.toggle("soon", remaining < 60);
    if (remaining === 0) {
      clearToken();
      tokenExpired.hidden = false;
      announce("The token has expired. Generate a new one.");
    }
  }

  async function generateToken() {
    const errorBox = pairingCard.querySelector('[data-field="error"]');
    errorBox.hidden = true;
    generateButton.disabled = true;
    try {
      const response = await api("POST", pairingCard.dataset.tokensUrl);
      if (!response.ok) {
        errorBox.textContent = "No token was made: " + (await errorMessage(response));
        errorBox.hidden = false;
        return;
      }
      const data = await response.json();
      // The server's clock decides expiry; correct for this computer's clock being off.
      // The Date header has whole seconds (truncated): half a second is its expected error.
      const serverDate = Date.parse(response.headers.get("Date") || "");
      token.clockOffset = Number.isNaN(serverDate) ? 0 : serverDate + 500 - Date.now();
      token.expiresAt = Date.parse(data.expires_at);
      token.knownConnectors = connectorIds();
      tokenInput.value = data.token;
      tokenExpired.hidden = true;
      tokenPaired.hidden = true;
      tokenPanel.hidden = false;
      window.clearInterval(token.timer);
      tickCountdown();
      token.timer = window.setInterval(tickCountdown, 1000);
      generateButton.textContent = "Generate a new token";
      tokenInput.focus();
      tokenInput.select();
      announce("Token generated. It is selected: copy it and paste it into the connector.");
    } catch (error) {
      errorBox.textContent = error.message || "Veracity could not be reached.";
      errorBox.hidden = false;
    } finally {
      generateButton.disabled = false;
    }
  }

  function noticePairing() {
    if (!token.knownConnectors) return;
    const fresh = Array.from(document.querySelectorAll("li[data-connector-id]")).find(function (item) {
      return !token.knownConnectors.has(item.dataset.connectorId);
    });
    if (!fresh) return;
    clearToken();
    tokenPaired.textContent = "Paired with " + fresh.dataset.hostname + ". It is listed under Connectors.";
    tokenPaired.hidden = false;
    announce("Paired with " + fresh.dataset.hostname + ".");
  }

  // ---- Live regions (server-rendered fragments) ----------------------------------------------
  const regions = {
    connectors: { element: document.getElementById("status-region"), url: page.dataset.connectorsFragment },
    portfolio: { element: document.getElementById("portfolio-region"), url: page.dataset.portfolioFragment },
  };
  const userToggled = new Map(); // details id → open, as the person left it
  let pollTimer = null;

  // A selector that finds "the same control" again after its region was re-rendered.
  function focusKey(element) {
    if (!element || element === document.body) return null;
    if (element.id) return "#" + CSS.escape(element.id);
    if (element.matches("summary") && element.parentElement.id) {
      return "#" + CSS.escape(element.parentElement.id) + " > summary";
    }
    for (const attribute of ["data-open-details", "aria-label"]) {
      const value = element.getAttribute(attribute);
      if (value) return "[" + attribute + '="' + CSS.escape(value) + '"]';
    }
    const action = element.dataset.action;
    if (action && element.dataset.connectorId) {
      return '[data-action="' + action + '"][data-connector-id="' + CSS.escape(element.dataset.connectorId) + '"]';
    }
    if (action) return '[data-action="' + action + '"]';
    return null;
  }

  async function refreshRegion(name) {
    const region = regions[name];
    const element = region.element;
    // Polls and refreshes after an action can overlap: an answer to an older request must never
    // replace what a newer one already showed (it would bring a revoked connector back to life).
    const sequence = (region.sent = (region.sent || 0) + 1);
    // The region's version is the ETag of its HTML: unchanged regions answer 304, no swap.
    const response = await fetch(region.url, {
      headers: { Accept: "text/html", "If-None-Match": '"' + element.dataset.version + '"' },
      credentials: "same-origin",
      cache: "no-store",
      signal: backgroundSignal,
    });
    if (response.status === 401) {
      goToLogin();
      return;
    }
    if (response.status === 304 || !response.ok) return; // unchanged, or keep the last good state
    const html = await response.text();
    if (sequence < (region.applied || 0)) return;
    region.applied = sequence;
    const version = (response.headers.get("ETag") || "").replace(/"/g, "");
    if (version && version === element.dataset.version) return;
    element.dataset.version = version;
    // Keep what the person was doing: focus, sideways scroll of tables, opened/closed sections.
    const active = element.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    const scrolls = Array.from(element.querySelectorAll(".table-scroll"), function (box) { return box.scrollLeft; });
    element.innerHTML = html;
    userToggled.forEach(function (open, id) {
      const details = document.getElementById(id);
      if (details && element.contains(details)) details.open = open;
    });
    element.querySelectorAll(".table-scroll").forEach(function (box, index) {
      if (scrolls[index]) box.scrollLeft = scrolls[index];
    });
    if (active) {
      const again = element.querySelector(active);
      if (again) again.focus();
    }
    if (name === "connectors") noticePairing();
  }

  async function refreshAll() {
    // Don't move things under a dialog.
    if (document.getElementById("revoke-dialog").open || document.getElementById("delete-dialog").open) return;
    try {
      await Promise.all([refreshRegion("connectors"), refreshRegion("portfolio")]);
    } catch (ignored) {
      // Network blip: the next round tries again.
    }
  }

  function schedulePolling() {
    window.clearTimeout(pollTimer);
    if (backgroundSignal.aborted) return;  // the page is being left
    pollTimer = window.setTimeout(async function () {
      if (!document.hidden) await refreshAll();
      schedulePolling();
    }, pollInterval);
  }

  // ---- Revoke and delete: a dialog that names the connector, then one request ---------------
  function confirmingDialog(dialogId, confirmId, closedAs, request, done) {
    const box = document.getElementById(dialogId);
    const confirmButton = document.getElementById(confirmId);
    const errorBox = box.querySelector('[data-field="error"]');
    let target = null;

    async function confirm(event) {
      event.preventDefault();
      if (!target) return;
      const chosen = target;
      confirmButton.disabled = true;
      try {
        const call = request(chosen);
        const response = await api(call.method, call.url, call.body);
        if (!response.ok) {
          errorBox.textContent = call.failure + (await errorMessage(response));
          errorBox.hidden = false;
          return;
        }
        box.close(closedAs);
        target = null;
        await refreshAll();
        done(chosen);
      } catch (error) {
        errorBox.textContent = error.message || "Veracity could not be reached.";
        errorBox.hidden = false;
      } finally {
        confirmButton.disabled = false;
      }
    }

    confirmButton.addEventListener("click", confirm);
    box.addEventListener("close", function () { if (box.returnValue !== closedAs) target = null; });
    return function open(button) {
      target = { id: button.dataset.connectorId, hostname: button.dataset.hostname };
      fill(box, "hostname", target.hostname);
      errorBox.hidden = true;
      box.showModal();
    };
  }

  function connectorUrl(id) {
    return "/api/v1/profile/ibkr/connectors/" + encodeURIComponent(id);
  }

  const openRevokeDialog = confirmingDialog("revoke-dialog", "revoke-confirm", "revoked",
    function (target) {
      return { method: "POST", url: connectorUrl(target.id) + "/revoke", failure: "Not revoked: " };
    },
    function (target) {
      const item = document.querySelector('li[data-connector-id="' + CSS.escape(target.id) + '"] h3');
      if (item) item.focus(); // the Revoke button is gone: focus its connector's heading
      announce("The connector on " + target.hostname + " is revoked.");
    });

  // Delete: a revoked connector and everything it sent.
  const openDeleteDialog = confirmingDialog("delete-dialog", "delete-confirm", "deleted",
    function (target) {
      return { method: "DELETE", url: connectorUrl(target.id), body: { confirm: true },
               failure: "Not deleted: " };
    },
    function (target) {
      // The Delete button is gone with its connector: focus stays in the list's card.
      document.querySelector('[data-action="refresh"]').focus();
      announce("The connector on " + target.hostname + " and its history are deleted.");
    });

  // ---- Wiring --------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const target = event.target.closest("button, a, summary");
    if (!target) return;
    if (target.matches("[data-copy-from]")) copyFrom(target);
    else if (target.matches('[data-action="revoke"]')) openRevokeDialog(target);
    else if (target.matches('[data-action="delete"]')) openDeleteDialog(target);
    else if (target.matches('[data-action="refresh"]')) refreshAll();
    else if (target.matches('[data-action="retry-download"]')) loadDownload();
    else if (target.matches("[data-open-details]")) {
      const details = document.getElementById(target.dataset.openDetails);
      if (details) details.open = true;
    } else if (target.matches("summary") && target.parentElement.id) {
      // Remember the person's choice; the click toggles after this handler runs.
      userToggled.set(target.parentElement.id, !target.parentElement.open);
    }
  });
  generateButton.addEventListener("click", generateToken);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refreshAll(); });

  const logout = document.getElementById("logout-button");
  logout.addEventListener("click", async function () {
    // No poll may answer 401 in between and send the person to "/login?next=…" instead.
    stopBackground();
    try {
      await api("DELETE", logout.dataset.sessionUrl);
    } catch (ignored) {
      // Already signed out: go to the sign-in page anyway.
    }
    window.location.assign(logout.dataset.loginUrl);
  });

  const logoutOthers = document.getElementById("logout-others-button");
  const logoutOthersResult = document.getElementById("logout-others-result");
  logoutOthers.addEventListener("click", async function () {
    logoutOthers.disabled = true;
    try {
      const response = await api("POST", logoutOthers.dataset.url);
      if (!response.ok) throw new Error(await errorMessage(response));
      const ended = (await response.json()).ended;
      logoutOthersResult.textContent = ended === 1 ? "1 other session signed out."
        : ended + " other sessions signed out.";
    } catch (error) {
      logoutOthersResult.textContent = error.message;
    } finally {
      logoutOthers.disabled = false;
    }
  });

  loadDownload();
  schedulePolling();
})();
