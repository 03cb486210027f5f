/* Pages change in place (htmx saves without a reload): a copy of a page kept from before is stale.
 * Signed-in pages are sent with Cache-Control: no-store (mastery.middleware.NoStoreMiddleware),
 * but a browser may still restore one from its back/forward cache: then load it again. */
(function () {
  "use strict";
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });
})();
