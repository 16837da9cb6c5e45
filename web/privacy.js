/*
 * "Delete my conversation" on the page (docs/privacy.md). It erases this visitor's conversation on the bot
 * (POST <bot>/webhooks/socketio/forget with the session id the widget keeps in the browser; holding that id
 * is what shows the conversation is yours), says so in words, forgets the session in this browser and
 * reloads, so the widget starts a new conversation. Loaded in <head>, before the widget: after the reload
 * it removes the old session before the widget can pick it up again. Settings: the bot's address is
 * socketUrl of config.json (data-config, as for chat.js).
 */
(function () {
  "use strict";

  var SESSION_KEY = "chat_session"; // where rasa-webchat keeps its session (session or local storage)
  var DONE_KEY = "privacy_erased"; // the confirmation, carried over the reload
  var script = document.currentScript;
  var configUrl = (script && script.getAttribute("data-config")) || "config.json";

  function forgetLocally() {
    [window.sessionStorage, window.localStorage].forEach(function (storage) {
      storage.removeItem(SESSION_KEY);
    });
  }

  function storedSessionId() {
    var stores = [window.sessionStorage, window.localStorage];
    for (var i = 0; i < stores.length; i++) {
      try {
        var session = JSON.parse(stores[i].getItem(SESSION_KEY) || "null");
        if (session && session.session_id) return session.session_id;
      } catch (ignored) { /* not the widget's JSON: nothing to send */ }
    }
    return null;
  }

  var confirmation = window.sessionStorage.getItem(DONE_KEY);
  if (confirmation !== null) {
    window.sessionStorage.removeItem(DONE_KEY);
    forgetLocally();
  }

  function erase(status) {
    var sessionId = storedSessionId();
    if (!sessionId) {
      status.textContent = "There is no conversation to delete.";
      return;
    }
    status.textContent = "Deleting...";
    fetch(configUrl, { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (settings) {
        // text/plain: a simple request, no CORS preflight; the bot reads the body as JSON.
        return fetch(settings.socketUrl.replace(/\/$/, "") + "/webhooks/socketio/forget", {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ session_id: sessionId })
        });
      })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.erased) {
          window.sessionStorage.setItem(DONE_KEY, body.message);
          forgetLocally();
          window.location.reload();
        } else {
          status.textContent = body.message;
        }
      })
      .catch(function () {
        status.textContent = "Sorry, the conversation could not be deleted just now. Please try again.";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("delete-conversation");
    var status = document.getElementById("privacy-status");
    if (!button || !status) return;
    if (confirmation !== null) status.textContent = confirmation;
    button.addEventListener("click", function () { erase(status); });
  });
})();
