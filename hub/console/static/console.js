// The console's only script (the CSP allows no inline one): the access
// matrix's "only fields some department reads" switch.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("only-granted");
  const table = document.getElementById("matrix");
  if (box && table) {
    box.addEventListener("change", () => table.classList.toggle("only-granted", box.checked));
  }
});
