// The dashboard's filters: the From and To fields show only while "Custom
// range" is the chosen period (the server hides them otherwise, so without
// this script choosing it and pressing Show brings them up).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
    const period = document.getElementById("id_period");
    if (!period) {
        return;
    }
    const customFields = document.querySelectorAll("[data-custom-range]");
    const showChosen = () => {
        for (const field of customFields) {
            field.hidden = period.value !== "custom";
        }
    };
    period.addEventListener("change", showChosen);
});
