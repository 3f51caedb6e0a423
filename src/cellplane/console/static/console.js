// cellplane console: live updates by server-sent events. The page names its stream in <body data-live>; each
// message is {target, mode, html}: replace the element with id `target`, or prepend a row to it.
(function () {
  "use strict";
  function apply(message) {
    var target = document.getElementById(message.target);
    if (!target) return;
    var holder = document.createElement("template");
    holder.innerHTML = message.html.trim();
    var node = holder.content.firstElementChild;
    if (!node) return;
    if (message.mode === "prepend") {
      target.insertBefore(node, target.firstChild);
      while (target.children.length > 50) target.removeChild(target.lastElementChild);
    } else {
      target.replaceWith(node);
    }
    if (window.htmx) window.htmx.process(node);
  }
  function connect() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.onmessage = function (event) {
      try { apply(JSON.parse(event.data)); } catch (error) { console.error("live update", error); }
    };
    window.addEventListener("pagehide", function () { source.close(); });
  }
  document.addEventListener("DOMContentLoaded", connect);
  // A change that went through clears the message of one that was refused before it.
  document.addEventListener("htmx:afterRequest", function (event) {
    var flash = document.getElementById("flash");
    if (flash && event.detail.xhr && event.detail.xhr.status < 400) flash.innerHTML = "";
  });
})();
