// The event type's fields editor (crm/admin/event_types.py): "Add a field" appends a row made from the template.
// A file rather than an inline script: the Content-Security-Policy refuses inline scripts without the response's nonce,
// and a widget's template is rendered without the request that holds it.
document.addEventListener("DOMContentLoaded", () => {
    for (const editor of document.querySelectorAll("[data-fields-editor]")) {
        editor.querySelector("[data-add-row]").addEventListener("click", () => {
            const total = editor.querySelector("[data-total]");
            const html = editor.querySelector("[data-row-template]").innerHTML.replaceAll("__index__", total.value);
            editor.querySelector("[data-rows]").insertAdjacentHTML("beforeend", html);
            total.value = Number(total.value) + 1;
        });
    }
});
