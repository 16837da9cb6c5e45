/*
 * Starts the rasa-webchat widget (window.WebChat, from vendor/rasa-webchat.js) with the settings of
 * config.json. The settings are data, documented in docs/website.md; this file only maps them onto the
 * widget's options. Another settings file can be named with <script src="chat.js" data-config="...">.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var configUrl = (script && script.getAttribute("data-config")) || "config.json";

  function start(settings) {
    var delay = Number(settings.messageDelayMs);
    if (!(delay >= 0)) delay = 400;
    window.WebChat.default(
      {
        socketUrl: settings.socketUrl,
        socketPath: settings.socketPath || "/socket.io/",
        title: settings.title,
        subtitle: settings.subtitle,
        // Sent when the visitor first opens the chat: "/greet" makes the bot say its greeting.
        initPayload: settings.initPayload,
        inputTextFieldHint: settings.inputTextFieldHint,
        // "session": the conversation survives reloads until the tab is closed; "local": until the
        // browser's site data is cleared. Rasa keeps the same conversation (session_persistence).
        params: { storage: settings.storage === "local" ? "local" : "session" },
        customMessageDelay: function () { return delay; },
        // The Botfront "rules" add-on is not used with Rasa; without it the widget shows up on connect.
        withRules: false,
        // Hidden while the bot is unreachable, rather than a chat that never answers.
        hideWhenNotConnected: true,
        showMessageDate: false,
        customData: {}
      },
      // Inside a labelled landmark, with names, keyboard access and a live region (a11y.js).
      window.PlantarChatA11y ? window.PlantarChatA11y.mount(settings.title) : null
    );
  }

  fetch(configUrl, { cache: "no-store" })
    .then(function (response) {
      if (!response.ok) throw new Error(configUrl + ": HTTP " + response.status);
      return response.json();
    })
    .then(start)
    .catch(function (error) {
      console.error("The chat widget could not start:", error);
    });
})();
