// The dashboard's script, served as a file from 'self'. Plain DOM, textContent only (never innerHTML):
// API answers carry store data and stay inert.

(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var s = page.strings;
  // Same origin, relative to this page: /api/dashboard -> /api/ (any route prefix, trailing slash or not).
  var base = location.pathname.replace(/dashboard\/?$/, "");
  function api(path) {
    return base + path + (page.code ? "?code=" + encodeURIComponent(page.code) : "");
  }
  function orderPath(store, order) {
    return "orders/" + encodeURIComponent(store) + "/" + encodeURIComponent(order);
  }
  function problemText(body, status) {
    if (body && (body.detail || body.title)) { return body.detail || body.title; }
    return s.network_error + " (" + status + ")";
  }
  // The state while the pipeline works; everything else (problems, documents) comes from the server's
  // own rendering of the order (refresh), so it is written once, in the templates.
  function showState(group, state) {
    group.dataset.state = state;
    var badge = group.querySelector(".state .badge");
    badge.className = "badge state-" + state;
    badge.dataset.state = state;
    badge.textContent = page.states[state] || state;
    var button = group.querySelector("button.retry");
    button.hidden = page.retryable.indexOf(state) < 0;
    button.disabled = false;
    button.textContent = s.retry;
  }
  // Replace the order's group with the same group from a fresh copy of this page; parsed, never run.
  function refresh(group) {
    if (group.classList.contains("detail")) { location.reload(); return; }
    fetch(location.href, {headers: {"Accept": "text/html"}})
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var match = Array.prototype.find.call(fresh.querySelectorAll("tbody.order"), function (candidate) {
          return candidate.dataset.store === group.dataset.store && candidate.dataset.order === group.dataset.order;
        });
        if (match) {
          group.replaceWith(document.importNode(match, true));
        } else {
          location.reload();  // the order left this filter: show the page as it is now
        }
      })
      .catch(function () {});
  }
  function readJson(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text); } catch (ignored) { return null; }
    });
  }
  // After a retry the pipeline works asynchronously: follow the order until it leaves received/validated.
  function follow(group, tries) {
    var store = group.dataset.store, order = group.dataset.order;
    fetch(api(orderPath(store, order)), {headers: {"Accept": "application/json"}})
      .then(function (response) {
        return readJson(response).then(function (body) { return {ok: response.ok, body: body}; });
      })
      .then(function (result) {
        if (!result.ok || !result.body) { return; }
        showState(group, result.body.state);
        if ((result.body.state === "received" || result.body.state === "validated") && tries > 0) {
          setTimeout(function () { follow(group, tries - 1); }, 1000);
        } else {
          refresh(group);
        }
      })
      .catch(function () {});
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.retry");
    if (!button) { return; }
    var group = button.closest(".order");
    var error = group.querySelector(".error");
    error.textContent = "";
    button.disabled = true;
    button.textContent = s.retrying;
    fetch(api(orderPath(group.dataset.store, group.dataset.order) + "/retry"), {method: "POST"})
      .then(function (response) {
        return readJson(response).then(function (body) {
          if (!response.ok) { throw new Error(s.retry_failed + ": " + problemText(body, response.status)); }
          showState(group, body.state);
          button.hidden = true;
          setTimeout(function () { follow(group, 60); }, 500);
        });
      })
      .catch(function (failure) {
        button.disabled = false;
        button.textContent = s.retry;
        error.textContent = failure.message || s.network_error;
      });
  });
  document.querySelectorAll("form.sku-upload").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var output = form.querySelector("output");
      var file = form.querySelector("input[type=file]").files[0];
      output.className = "result";
      if (!file) { output.textContent = s.choose_file; output.classList.add("bad"); return; }
      output.textContent = s.uploading;
      var path = "stores/" + encodeURIComponent(form.dataset.store) + "/sku-map";
      fetch(api(path), {method: "PUT", headers: {"Content-Type": "text/csv; charset=utf-8"}, body: file})
        .then(function (response) {
          return readJson(response).then(function (body) {
            if (!response.ok) { throw new Error(s.upload_failed + ": " + problemText(body, response.status)); }
            output.textContent = s.uploaded.replace("{count}", String(body.count));
            output.classList.add("ok");
          });
        })
        .catch(function (failure) {
          output.textContent = failure.message || s.network_error;
          output.classList.add("bad");
        });
    });
  });
  document.querySelectorAll("a[data-api-path]").forEach(function (link) {
    link.href = api(link.dataset.apiPath);
  });
  var search = document.getElementById("search");
  if (search) {
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      document.querySelectorAll("#orders tbody.order").forEach(function (group) {
        group.hidden = needle !== "" && group.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  }
})();
