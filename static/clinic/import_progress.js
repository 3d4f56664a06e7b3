// Polls a background import's progress and reloads the page once it ends
// (the reloaded page shows the summary). No inline script: CSP allows 'self'.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) {
    return;
  }
  var url = box.dataset.progressUrl;
  var bar = box.querySelector("[data-role=bar]");
  var numbers = box.querySelector("[data-role=numbers]");
  var status = box.querySelector("[data-role=status]");
  var phases = { checking: "Checking", writing: "Writing" };

  function show(data) {
    status.textContent = data.status_text + "…";
    if (data.total) {
      bar.max = data.total;
      bar.value = data.done;
    }
    if (data.phase) {
      numbers.textContent = (phases[data.phase] || data.phase) + ": " +
        data.done.toLocaleString() + " / " + data.total.toLocaleString() + " rows";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.finished) {
          window.location.reload();
          return;
        }
        show(data);
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 500);
})();
