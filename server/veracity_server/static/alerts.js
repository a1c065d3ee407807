// Profile → IBKR Integration, the Alerts card: save the settings, generate the webhook signing
// secret (shown once), send a test on each channel and follow the delivery log. The card is
// rendered by the server (templates/_alerts_card.html); helpers come from page_common.js.
"use strict";

(function () {
  const shared = window.VeracityPage;  // page_common.js, loaded first
  const card = document.getElementById("alerts-card");
  if (!shared || !card) return;
  const { announce, api, errorMessage } = shared;
  const form = document.getElementById("alerts-form");
  const errorLine = form.querySelector('[data-field="error"]');
  const status = document.getElementById("alerts-status");
  const kind = document.getElementById("alerts-schedule-kind");
  const custom = document.getElementById("alerts-custom");
  const snooze = document.getElementById("alerts-snooze");
  const LOG_REFRESH_MS = 15000;
  const TEST_REFRESH_MS = 1000;
  let waitingFor = null;  // the id of a test delivery whose outcome is awaited
  let timer = null;

  function scheduleRefresh(delayMs) {
    window.clearTimeout(timer);
    if (shared.backgroundSignal.aborted) return;  // the page is being left
    timer = window.setTimeout(refresh, delayMs);
  }

  function pad(number) { return String(number).padStart(2, "0"); }

  // datetime-local shows and takes local time; the API speaks UTC ISO 8601.
  function toLocalInput(iso) {
    const moment = new Date(iso);
    if (!iso || Number.isNaN(moment.getTime())) return "";
    return moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
      "T" + pad(moment.getHours()) + ":" + pad(moment.getMinutes());
  }

  function fromLocalInput(value) {
    if (!value) return null;
    const moment = new Date(value);
    return Number.isNaN(moment.getTime()) ? null : moment.toISOString();
  }

  function showError(text) {
    errorLine.textContent = text || "";
    errorLine.hidden = !text;
  }

  function seconds(name) {
    const input = form.elements[name];
    return Math.round(Number(input.value) * Number(input.dataset.unit || 1));
  }

  function body() {
    const days = Array.from(form.querySelectorAll('input[name="schedule_days"]:checked'),
                            function (box) { return Number(box.value); });
    return {
      email_enabled: form.elements.email_enabled.checked,
      email_address: form.elements.email_address.value.trim() || null,
      webhook_enabled: form.elements.webhook_enabled.checked,
      webhook_url: form.elements.webhook_url.value.trim() || null,
      silent_after_s: seconds("silent_after_s"),
      login_after_s: seconds("login_after_s"),
      competing_after_s: seconds("competing_after_s"),
      update_alerts: form.elements.update_alerts.checked,
      schedule_kind: kind.value,
      schedule_days: days,
      schedule_start: form.elements.schedule_start.value,
      schedule_end: form.elements.schedule_end.value,
      schedule_timezone: form.elements.schedule_timezone.value.trim(),
      snoozed_until: fromLocalInput(snooze.value),
    };
  }

  // As the server renders them: "2026-12-07 15:04:05 UTC".
  function shortTime(iso) {
    return iso ? iso.slice(0, 19).replace("T", " ") + " UTC" : "—";
  }

  const LABELS = ["Queued", "Message", "Channel", "Status", "Attempts", "Next try / sent"];

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    td.dataset.label = LABELS[row.children.length] || "";
    row.appendChild(td);
    return td;
  }

  function renderLog(deliveries) {
    const tbody = document.getElementById("alerts-deliveries");
    const rows = deliveries.map(function (delivery) {
      const row = document.createElement("tr");
      row.dataset.deliveryId = delivery.id;
      row.dataset.status = delivery.status;
      const queued = document.createElement("time");
      queued.dateTime = delivery.created_at || "";
      queued.textContent = shortTime(delivery.created_at);
      cell(row, "").appendChild(queued);
      cell(row, delivery.subject);
      cell(row, delivery.channel + " → " + delivery.target);
      cell(row, delivery.status + (delivery.last_error ? " (" + delivery.last_error + ")" : ""));
      cell(row, String(delivery.attempts));
      cell(row, shortTime(delivery.sent_at || delivery.next_attempt_at));
      return row;
    });
    if (!rows.length) {
      const row = document.createElement("tr");
      row.className = "empty-row";
      const td = cell(row, "No alerts sent yet.");
      td.colSpan = 6;
      td.className = "empty";
      rows.push(row);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  function followTest(deliveries) {
    if (waitingFor === null) return;
    const delivery = deliveries.find(function (item) { return item.id === waitingFor; });
    if (!delivery || (delivery.status !== "sent" && delivery.status !== "failed" &&
                      !(delivery.status === "pending" && delivery.attempts > 0))) return;
    const what = delivery.channel === "email" ? "Test e-mail" : "Test webhook";
    const text = delivery.status === "sent" ? what + " sent." :
      what + " failed: " + (delivery.last_error || delivery.status) +
      (delivery.status === "pending" ? " (retrying)" : "");
    status.textContent = text;
    announce(text);
    waitingFor = null;
  }

  async function refresh() {
    try {
      const response = await api("GET", card.dataset.alertsUrl, undefined, true);
      if (!response.ok) return;
      const answer = await response.json();
      renderLog(answer.deliveries);
      followTest(answer.deliveries);
    } catch (ignored) {
      // The next refresh tries again.
    } finally {
      scheduleRefresh(waitingFor === null ? LOG_REFRESH_MS : TEST_REFRESH_MS);
    }
  }

  async function save(event) {
    event.preventDefault();
    showError("");
    const button = document.getElementById("alerts-save");
    button.disabled = true;
    try {
      const response = await api("PUT", card.dataset.alertsUrl, body());
      if (!response.ok) {
        showError(await errorMessage(response));
        return;
      }
      const answer = await response.json();
      document.getElementById("alerts-schedule-text").textContent = answer.schedule_text;
      renderLog(answer.deliveries);
      status.textContent = "Alert settings saved.";
      announce("Alert settings saved.");
    } catch (error) {
      showError(error.message || "Veracity could not be reached.");
    } finally {
      button.disabled = false;
    }
  }

  async function makeSecret() {
    showError("");
    const response = await api("POST", card.dataset.secretUrl);
    if (!response.ok) {
      showError(await errorMessage(response));
      return;
    }
    const answer = await response.json();
    document.getElementById("alerts-secret-value").value = answer.secret;
    document.getElementById("alerts-secret-panel").hidden = false;
    document.getElementById("alerts-secret-state").textContent = "set (shown below, only now)";
    document.getElementById("alerts-make-secret").textContent = "Replace signing secret";
    announce("Signing secret generated. Copy it now: it is shown only once.");
  }

  async function sendTest(channel) {
    showError("");
    const response = await api("POST", card.dataset.testUrl, { channel: channel });
    if (!response.ok) {
      showError(await errorMessage(response));
      return;
    }
    const answer = await response.json();
    waitingFor = answer.delivery.id;
    status.textContent = (channel === "email" ? "Test e-mail" : "Test webhook") + " queued…";
    announce(status.textContent);
    scheduleRefresh(TEST_REFRESH_MS);
  }

  snooze.value = toLocalInput(snooze.dataset.value);
  kind.addEventListener("change", function () { custom.hidden = kind.value !== "custom"; });
  form.addEventListener("submit", save);
  document.getElementById("alerts-make-secret").addEventListener("click", makeSecret);
  card.querySelectorAll("[data-test-channel]").forEach(function (button) {
    button.addEventListener("click", function () { sendTest(button.dataset.testChannel); });
  });
  scheduleRefresh(LOG_REFRESH_MS);
})();
