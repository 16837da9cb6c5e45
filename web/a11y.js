/*
 * Accessibility for the rasa-webchat 1.0.1 widget, added from the page (the widget itself is not changed):
 *
 *  - a landmark: the widget is mounted inside <aside aria-label="Chat: <title>">, so that nothing on the
 *    page is outside a landmark and a screen-reader user can jump to the chat;
 *  - names for the buttons that have none (the launcher, "Send"), the text box and the message list;
 *  - the scrolling message list can be reached with the keyboard (tabindex), so it can be scrolled;
 *  - the suggested questions, which the widget renders as clickable <div>s, become buttons that Tab
 *    reaches and Enter or Space presses; focus then goes to the text box;
 *  - Escape closes the chat, and focus returns to the launcher when the chat closes;
 *  - the chat's title is a level-2 heading under the page's <h1> (the widget uses <h4>);
 *  - new bot messages are read out by screen readers: rasa-webchat has no live region, so one is added
 *    next to it and each new bubble's text (and the suggested questions) is copied into it.
 *
 * The widget's React code re-renders its elements, so the attributes are set again by a MutationObserver
 * whenever its DOM changes. Usage (chat.js): WebChat.default(props, PlantarChatA11y.mount(title)).
 */
(function () {
  "use strict";

  var LABELS = {
    open: "Open the chat",
    close: "Close the chat",
    send: "Send",
    input: "Your question",
    messages: "Conversation",
    suggestions: "Suggested questions: "
  };
  var KEEP_ANNOUNCEMENTS = 6; // older lines leave the live region (removals are not read out)
  var BOT_BUBBLES = ".rw-group-message.rw-from-response .rw-response";

  function setAttr(element, name, value) {
    if (element && element.getAttribute(name) !== value) element.setAttribute(name, value);
  }

  function visible(element) {
    return !!element && element.offsetParent !== null;
  }

  function squash(text) {
    return (text || "").replace(/\s+/g, " ").trim();
  }

  function Enhancer(landmark, live) {
    this.landmark = landmark;
    this.live = live;
    this.messages = null; // the message list element the counts below belong to
    this.announced = 0; // bot bubbles of that list already read out (or there before it was shown)
    this.announcedReplies = new WeakSet(); // sets of suggestions already read out
    this.wasOpen = false;
  }

  Enhancer.prototype.isOpen = function () {
    return !!this.landmark.querySelector(".rw-widget-container.rw-chat-open");
  };

  Enhancer.prototype.launcher = function () {
    return this.landmark.querySelector(".rw-launcher");
  };

  Enhancer.prototype.textBox = function () {
    return this.landmark.querySelector(".rw-new-message");
  };

  /* Names, roles and keyboard access; safe to run any number of times. */
  Enhancer.prototype.label = function () {
    var root = this.landmark;
    var open = this.isOpen();
    var launcher = this.launcher();
    setAttr(launcher, "aria-label", open ? LABELS.close : LABELS.open);
    setAttr(launcher, "aria-expanded", open ? "true" : "false");
    setAttr(root.querySelector(".rw-close-button"), "aria-label", LABELS.close);
    setAttr(root.querySelector(".rw-close-button"), "type", "button");
    setAttr(root.querySelector(".rw-send"), "aria-label", LABELS.send);
    var icon = root.querySelector(".rw-send svg");
    setAttr(icon, "aria-hidden", "true");
    setAttr(icon, "focusable", "false");
    setAttr(this.textBox(), "aria-label", LABELS.input);
    var list = root.querySelector(".rw-messages-container");
    setAttr(list, "tabindex", "0");
    setAttr(list, "role", "region");
    setAttr(list, "aria-label", LABELS.messages);
    var title = root.querySelector(".rw-title");
    setAttr(title, "aria-level", "2");
    var replies = root.querySelectorAll("div.rw-reply");
    for (var i = 0; i < replies.length; i++) {
      setAttr(replies[i], "role", "button");
      setAttr(replies[i], "tabindex", "0");
    }
    var typing = root.querySelector(".rw-typing-indication");
    setAttr(typing, "aria-hidden", "true");
  };

  /* Copy new bot bubbles into the live region. A message list that was just rendered (the chat opened,
     or the page was reloaded with its conversation) starts counted: only later bubbles are read out. */
  Enhancer.prototype.announce = function () {
    var list = this.landmark.querySelector(".rw-messages-container");
    if (!list) {
      this.messages = null;
      return;
    }
    var bubbles = list.querySelectorAll(BOT_BUBBLES);
    if (list !== this.messages) {
      this.messages = list;
      this.announced = bubbles.length;
      this.markReplies(list);
      return;
    }
    for (var i = this.announced; i < bubbles.length; i++) {
      this.say(squash(bubbles[i].innerText || bubbles[i].textContent));
    }
    this.announced = Math.max(this.announced, bubbles.length);
    var sets = list.querySelectorAll(".rw-replies");
    for (var j = 0; j < sets.length; j++) {
      if (this.announcedReplies.has(sets[j])) continue;
      this.announcedReplies.add(sets[j]);
      var names = [];
      var buttons = sets[j].querySelectorAll(".rw-reply");
      for (var k = 0; k < buttons.length; k++) names.push(squash(buttons[k].textContent));
      if (names.length) this.say(LABELS.suggestions + names.join("; ") + ".");
    }
  };

  Enhancer.prototype.markReplies = function (list) {
    var sets = list.querySelectorAll(".rw-replies");
    for (var i = 0; i < sets.length; i++) this.announcedReplies.add(sets[i]);
  };

  Enhancer.prototype.say = function (text) {
    if (!text) return;
    var line = document.createElement("p");
    line.textContent = text;
    this.live.appendChild(line);
    while (this.live.childNodes.length > KEEP_ANNOUNCEMENTS) this.live.removeChild(this.live.firstChild);
  };

  /* Focus follows the chat: into the text box when it opens (if the widget's autofocus did not), back to
     the launcher when it closes and focus was inside it (or lost with the closed window). */
  Enhancer.prototype.followFocus = function () {
    var open = this.isOpen();
    if (open === this.wasOpen) return;
    this.wasOpen = open;
    var active = document.activeElement;
    var lost = !active || active === document.body;
    if (open) {
      var box = this.textBox();
      if (box && (lost || active === this.launcher())) box.focus();
    } else if (lost || this.landmark.contains(active)) {
      var launcher = this.launcher();
      if (visible(launcher)) launcher.focus();
    }
  };

  Enhancer.prototype.update = function () {
    this.label();
    this.announce();
    this.followFocus();
  };

  Enhancer.prototype.onKeyDown = function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("div.rw-reply") && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      target.click(); // the widget's own click handler sends the suggestion
      this.update();
      var box = this.textBox();
      if (box) box.focus();
    } else if (event.key === "Escape" && this.isOpen()) {
      event.preventDefault();
      var launcher = this.launcher();
      var close = visible(launcher) ? launcher : this.landmark.querySelector(".rw-close-button");
      if (close) close.click();
      this.update();
      launcher = this.launcher();
      if (visible(launcher)) launcher.focus();
    }
  };

  /* Creates the landmark with the widget's mount point and the live region; returns the mount point. */
  function mount(title) {
    var landmark = document.createElement("aside");
    landmark.className = "pf-chat";
    landmark.setAttribute("aria-label", title ? "Chat: " + title : "Chat");
    var widget = document.createElement("div");
    widget.className = "pf-chat-widget";
    var live = document.createElement("div");
    live.className = "pf-chat-live pf-visually-hidden";
    live.setAttribute("aria-live", "polite");
    live.setAttribute("aria-relevant", "additions");
    landmark.appendChild(widget);
    landmark.appendChild(live);
    document.body.appendChild(landmark);

    var enhancer = new Enhancer(landmark, live);
    var scheduled = false;
    var observer = new MutationObserver(function () {
      if (scheduled) return;
      scheduled = true;
      // Once per batch of React's changes, after they are all in the DOM.
      Promise.resolve().then(function () {
        scheduled = false;
        enhancer.update();
      });
    });
    observer.observe(widget, { childList: true, subtree: true });
    landmark.addEventListener("keydown", function (event) { enhancer.onKeyDown(event); });
    return widget;
  }

  window.PlantarChatA11y = { mount: mount };
})();
