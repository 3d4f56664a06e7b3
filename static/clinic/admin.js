// Small fixes to the Django admin for assistive technology, on every page
// (templates/admin/base_site.html).
//
// The autocomplete boxes (Select2) point aria-labelledby at the text of the
// current choice, which is empty until something is chosen: a screen reader
// then announces an unnamed combobox. Each box is named after its field's
// label (and the read-only text showing the choice with it), as soon as
// the box appears.
"use strict";
{
    const nameComboboxes = () => {
        for (const box of document.querySelectorAll(
            ".select2-selection[role=combobox]:not([aria-label])"
        )) {
            const container = box.closest(".select2-container");
            const select = container && container.previousElementSibling;
            if (!select || select.tagName !== "SELECT") {
                continue;
            }
            const label = select.labels && select.labels[0];
            const text = label
                ? label.textContent.replace(/:\s*$/, "").trim()
                : (select.getAttribute("aria-label") || "").trim();
            if (!text) {
                continue;
            }
            box.setAttribute("aria-label", text);
            // The read-only text inside shows the choice; it is named too.
            const shown = box.querySelector(".select2-selection__rendered[role=textbox]");
            if (shown) {
                shown.setAttribute("aria-label", text);
            }
        }
        // A box choosing several (the member list's "Add doctors") types into
        // a search field of its own inside the box: it gets the box's name.
        for (const search of document.querySelectorAll(
            ".select2-selection--multiple .select2-search__field:not([aria-label])"
        )) {
            const box = search.closest(".select2-selection");
            const text = box && box.getAttribute("aria-label");
            if (text) {
                search.setAttribute("aria-label", text);
            }
        }
    };
    // Select2 builds its boxes when its script runs, and again for each inline
    // row added: name them whenever boxes appear.
    const start = () => {
        nameComboboxes();
        new MutationObserver(nameComboboxes).observe(document.body, {
            childList: true,
            subtree: true,
        });
    };
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
}
