// A rule's activities, row by row (crm/admin/builder ActivitiesWidget): what each does and its settings, in the
// label's own terms (its missions, badges and bonus templates, the trigger type's numeric fields, from the builder's
// catalogue). It edits the JSON in the widget's textarea, which is what the form posts: the POST format never
// changes, and without JavaScript the textarea stays editable. Vanilla JavaScript, no build step, no inline script.
//
// Widget: <div class="pb-builder" data-activities-editor data-catalogue-url data-label-id data-label-field
// data-type-field> holding the textarea and a mount point. The server's messages ("activities[1].amount: ...") are
// shown under the row they name.
(() => {
    "use strict";

    const MAX_ACTIVITIES = 10;
    const WALLET = ["points", "gems", "diamonds"];
    const KINDS = [
        ["points", "Points"], ["gems", "Gems"], ["diamonds", "Diamonds"],
        ["accumulate", "Accumulate per amount"],
        ["set_marker", "Set a marker"], ["remove_marker", "Remove a marker"],
        ["mission", "Give a mission"], ["badge", "Award a badge"], ["bonus", "Give a bonus"],
        ["webhook", "Call a webhook"],
    ];
    const KEYS = {
        points: ["type", "amount", "expression", "deduct"], accumulate: ["type", "currency", "field", "per", "amount"],
        set_marker: ["type", "marker"], mission: ["type", "mission"], badge: ["type", "badge"],
        bonus: ["type", "template"], webhook: ["type", "url", "body"],
    };
    const CHOICES = { mission: ["missions", "mission"], badge: ["badges", "badge"], bonus: ["bonus_templates", "template"] };
    let uid = 0;

    // The condition builder's helpers (builder.js, loaded first by the widget's media): the same DOM helpers, and the
    // same catalogue cache, so a page with both fetches a label's catalogue once.
    const { h, select, errorList, loadCatalogue } = window.pitbossBuilder;

    function iconButton(icon, label, key, onclick, disabled) {
        return h("button", { type: "button", class: "pb-remove", "aria-label": label, title: label, "data-key": key,
            disabled, onclick }, h("span", { class: "material-symbols-outlined", "aria-hidden": "true", text: icon }));
    }

    // "10" -> 10; "EUR 10, GBP 8.5" -> {EUR: 10, GBP: 8.5}; anything else stays text (the server names the problem).
    function parsePer(text) {
        const trimmed = String(text).trim();
        if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
        const pairs = [...trimmed.matchAll(/([A-Za-z]{3})\s*[:=]?\s*(\d+(?:\.\d+)?)/g)];
        const rest = trimmed.replace(/([A-Za-z]{3})\s*[:=]?\s*(\d+(?:\.\d+)?)/g, "").replace(/[\s,;]/g, "");
        if (!pairs.length || rest) return trimmed;
        return Object.fromEntries(pairs.map(([, code, value]) => [code.toUpperCase(), Number(value)]));
    }

    function perText(per) {
        if (per && typeof per === "object") return Object.entries(per).map(([code, value]) => `${code} ${value}`).join(", ");
        return per === undefined || per === null ? "" : String(per);
    }

    function wholeOrText(text) {
        const trimmed = String(text).trim();
        return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
    }

    function fresh(type, catalogue) {
        if (WALLET.includes(type)) return { type, amount: 10 };
        if (type === "accumulate") return { type, currency: "points", field: "", per: 10, amount: 1 };
        if (type === "set_marker" || type === "remove_marker") return { type, marker: "" };
        if (type === "webhook") return { type, url: "", body: {} };
        const [list, key] = CHOICES[type];
        const first = (catalogue && catalogue[list] || [])[0];
        return { type, [key]: first ? first[0] : null };
    }

    function readable(activity) {
        if (!activity || typeof activity !== "object" || Array.isArray(activity)) return false;
        const kind = WALLET.includes(activity.type) ? "points"
            : activity.type === "remove_marker" ? "set_marker" : activity.type;
        const keys = KEYS[kind];
        return Boolean(keys) && Object.keys(activity).every((k) => keys.includes(k));
    }

    class Editor {
        constructor(root) {
            this.root = root;
            this.textarea = root.querySelector("textarea.pb-builder-json");
            this.mount = root.querySelector("[data-builder-mount]");
            this.form = root.closest("form");
            this.id = `pb-activities-${++uid}`;
            this.catalogue = null;
            this.rowErrors = this.errorsFromPage();
            const label = this.sibling(root.dataset.labelField);
            if (label) label.addEventListener("change", () => this.load());
            const type = this.sibling(root.dataset.typeField);
            if (type) type.addEventListener("change", () => this.catalogue && this.render());
            this.load();
        }

        sibling(name) {
            if (!this.form || !name) return null;
            const found = this.form.elements.namedItem(name);
            return found instanceof RadioNodeList ? found[0] : found;
        }

        labelId() {
            const field = this.sibling(this.root.dataset.labelField);
            return (field && field.value) || this.root.dataset.labelId || "";
        }

        // The server's messages as the page shows them: "Activity 2, amount: ..." goes under the second row, any
        // other above the rows. Once the editor shows them, the field's own list is hidden (each message shown once);
        // it stays when the editor cannot read the activities (the JSON box is then the editor).
        errorsFromPage() {
            const container = this.root.closest("td, .form-row, .field-row, fieldset") || this.root.parentElement;
            const found = {};
            this.pageErrors = container ? [...container.querySelectorAll(".errorlist")] : [];
            for (const item of this.pageErrors.flatMap((list) => [...list.querySelectorAll("li")])) {
                const text = item.textContent.trim();
                const row = /^Activity (\d+)(?:, [\w ]+)?: (.+)$/s.exec(text);
                const key = row ? String(Number(row[1]) - 1) : "";
                (found[key] = found[key] || []).push(row ? row[2] : text);
            }
            return found;
        }

        async load() {
            this.root.classList.add("pb-builder-ready");
            const labelField = this.sibling(this.root.dataset.labelField);
            if (labelField && !labelField.value && !this.root.dataset.labelId) {
                this.raw("Choose the label first: the editor then offers its missions, badges and bonuses.");
                return;
            }
            this.mount.replaceChildren(h("p", { class: "pb-note", text: "Loading the label's catalogue…" }));
            try {
                this.catalogue = await loadCatalogue(this.root.dataset.catalogueUrl, this.labelId());
            } catch (error) {
                this.raw(`${error.message} Edit the activities as JSON below, or reload the page.`);
                return;
            }
            try {
                const text = this.textarea.value.trim();
                const value = text ? JSON.parse(text) : [];
                if (!Array.isArray(value) || !value.every(readable)) throw new Error("shape");
                this.state = value;
            } catch (error) {
                this.raw("These activities are not in a shape the editor reads; edit them as JSON below.");
                return;
            }
            this.render();
        }

        raw(message) {
            this.catalogue = null;
            for (const list of this.pageErrors) list.hidden = false;
            this.root.classList.add("pb-builder-raw");
            this.mount.replaceChildren(h("p", { class: "pb-note pb-warning", role: "status", text: message }));
        }

        changed(structural) {
            // The server's messages are about the rows as posted: once rows move, change kind or go, they would sit on
            // the wrong row, so they go too.
            if (structural) this.rowErrors = {};
            this.textarea.value = JSON.stringify(this.state);
            this.textarea.dispatchEvent(new Event("change", { bubbles: true }));
            if (structural) this.render();
            else this.preview.textContent = this.sentence();  // the rows did not change: nor did the preview's hiding
        }

        render() {
            const active = document.activeElement;
            const keep = active && this.mount.contains(active) ? active.dataset.key : null;
            this.root.classList.remove("pb-builder-raw");
            for (const list of this.pageErrors) list.hidden = true;
            const parts = [];
            if (this.rowErrors[""]) parts.push(errorList(this.rowErrors[""]));
            const list = h("div", { class: "pb-event-list", "data-testid": "activities" });
            this.state.forEach((activity, index) => list.append(this.row(activity, index)));
            if (!this.state.length) list.append(h("p", { class: "pb-note", text: "No activity yet: the rule does nothing." }));
            parts.push(list);
            parts.push(h("div", { class: "pb-actions" }, h("button", {
                type: "button", class: "pb-add", "data-key": "add", "data-testid": "add-activity",
                disabled: this.state.length >= MAX_ACTIVITIES, text: "+ Activity",
                onclick: () => {
                    this.state.push(fresh("points", this.catalogue));
                    this.changed(true);
                },
            })));
            this.preview = h("p", { class: "pb-preview", "aria-live": "polite", "data-testid": "activities-preview" });
            this.preview.textContent = this.sentence();
            this.preview.hidden = !this.state.length;
            parts.push(this.preview);
            parts.push(this.jsonToggle());
            this.mount.replaceChildren(...parts);
            if (keep) this.mount.querySelector(`[data-key="${CSS.escape(keep)}"]`)?.focus();
        }

        jsonToggle() {
            const button = h("button", {
                type: "button", class: "pb-link", "aria-expanded": "false", text: "Show the JSON",
                onclick: () => {
                    const open = this.root.classList.toggle("pb-builder-show-json");
                    button.setAttribute("aria-expanded", String(open));
                    button.textContent = open ? "Hide the JSON" : "Show the JSON";
                },
            });
            if (!this.jsonWatched) {
                this.jsonWatched = true;
                this.textarea.addEventListener("input", () => {
                    try {
                        const value = JSON.parse(this.textarea.value || "[]");
                        if (!Array.isArray(value) || !value.every(readable)) return;
                        this.state = value;
                        this.render();
                        this.root.classList.add("pb-builder-show-json");
                    } catch (error) {
                        // Half-typed JSON: the editor catches up once it parses.
                    }
                });
            }
            return button;
        }

        row(activity, index) {
            const key = `a${index}`;
            const set = (patch, structural = false) => {
                Object.assign(activity, patch);
                for (const [name, value] of Object.entries(patch)) if (value === undefined) delete activity[name];
                this.changed(structural);
            };
            const head = h("div", { class: "pb-row" },
                h("strong", { text: `${index + 1}.` }),
                select(KINDS, activity.type, {
                    "aria-label": "Activity", "data-key": `${key}:type`, "data-testid": "activity-type",
                    onchange: (e) => {
                        this.state[index] = fresh(e.target.value, this.catalogue);
                        this.changed(true);
                    },
                }),
                ...this.settings(activity, key, set));
            const moves = h("div", { class: "pb-row" },
                iconButton("arrow_upward", "Move up", `${key}:up`, () => this.move(index, -1), index === 0),
                iconButton("arrow_downward", "Move down", `${key}:down`, () => this.move(index, 1),
                    index === this.state.length - 1),
                iconButton("close", "Remove this activity", `${key}:remove`, () => {
                    this.state.splice(index, 1);
                    this.changed(true);
                }));
            const body = h("div", {}, head);
            if (activity.type === "webhook") body.append(this.webhookBody(activity, key, set));
            const errors = this.rowErrors[String(index)];
            if (errors) body.append(errorList(errors));
            return h("div", { class: "pb-leaf", "data-testid": "activity" }, body, moves);
        }

        move(index, step) {
            const [item] = this.state.splice(index, 1);
            this.state.splice(index + step, 0, item);
            this.changed(true);
        }

        settings(a, key, set) {
            if (WALLET.includes(a.type)) {
                const computed = "expression" in a;
                return [
                    select([["add", "add"], ["deduct", "deduct"]], a.deduct ? "deduct" : "add", {
                        "aria-label": "Add or deduct", "data-key": `${key}:deduct`,
                        onchange: (e) => set({ deduct: e.target.value === "deduct" ? true : undefined }),
                    }),
                    select([["fixed", "a fixed amount"], ["expression", "computed"]],
                        computed ? "expression" : "fixed", {
                            "aria-label": "Amount kind", "data-key": `${key}:kind`,
                            onchange: (e) => set(e.target.value === "expression"
                                ? { amount: undefined, expression: "event.amount * 0.1" }
                                : { expression: undefined, amount: 10 }, true),
                        }),
                    computed
                        ? h("input", { type: "text", class: "pb-input", value: a.expression, size: 32,
                            "aria-label": "Expression", "data-key": `${key}:expression`, "data-testid": "activity-expression",
                            placeholder: "event.bet_amount * 0.1",
                            oninput: (e) => set({ expression: e.target.value }) })
                        : h("input", { type: "number", class: "pb-input pb-number", value: a.amount ?? "", min: 1, step: 1,
                            "aria-label": "Amount", "data-key": `${key}:amount`, "data-testid": "activity-amount",
                            oninput: (e) => set({ amount: wholeOrText(e.target.value) }) }),
                ];
            }
            if (a.type === "accumulate") {
                return [
                    h("input", { type: "number", class: "pb-input pb-number", value: a.amount ?? "", min: 1, step: 1,
                        "aria-label": "Amount", "data-key": `${key}:amount`, "data-testid": "activity-amount",
                        oninput: (e) => set({ amount: wholeOrText(e.target.value) }) }),
                    select(WALLET.map((w) => [w, w]), a.currency, { "aria-label": "Currency", "data-key": `${key}:currency`,
                        onchange: (e) => set({ currency: e.target.value }) }),
                    "per",
                    h("input", { type: "text", class: "pb-input", value: perText(a.per), size: 14,
                        "aria-label": "Per (a number, or one per wallet currency: EUR 10, GBP 8)", "data-key": `${key}:per`,
                        title: "A number, or one per wallet currency: EUR 10, GBP 8",
                        oninput: (e) => set({ per: parsePer(e.target.value) }) }),
                    "of the event's",
                    this.fieldInput(a, key, set),
                ];
            }
            if (a.type === "set_marker" || a.type === "remove_marker") {
                const listId = `${this.id}-${key}-markers`;
                return [h("span", { class: "pb-inline" },
                    h("input", { type: "text", class: "pb-input", value: a.marker || "", list: listId, size: 20,
                        "aria-label": "Marker", "data-key": `${key}:marker`, "data-testid": "activity-marker",
                        placeholder: "vip", oninput: (e) => set({ marker: e.target.value.trim() }) }),
                    h("datalist", { id: listId }, (this.catalogue.markers || []).map((m) => h("option", { value: m }))))];
            }
            if (a.type in CHOICES) {
                const [list, name] = CHOICES[a.type];
                const options = (this.catalogue[list] || []).map(([id, label]) => [id, label]);
                if (a[name] !== null && a[name] !== undefined && !options.some(([id]) => String(id) === String(a[name]))) {
                    options.unshift([a[name], `#${a[name]} (not one of this label's)`]);
                }
                if (!options.length) return [h("span", { class: "pb-note pb-warning", text: `The label has no ${list.replace("_", " ")} yet.` })];
                return [select(options, a[name], { "aria-label": name, "data-key": `${key}:${name}`, "data-testid": "activity-choice",
                    onchange: (e) => set({ [name]: Number(e.target.value) }) })];
            }
            return [h("input", { type: "url", class: "pb-input", value: a.url || "", size: 40, placeholder: "https://",
                "aria-label": "URL", "data-key": `${key}:url`, oninput: (e) => set({ url: e.target.value.trim() }) })];
        }

        fieldInput(a, key, set) {
            const listId = `${this.id}-${key}-fields`;
            const type = this.sibling(this.root.dataset.typeField);
            const info = (this.catalogue.event_types || []).find((t) => t.name === (type ? type.value.trim() : ""));
            const numeric = info ? info.fields.filter((f) => f.kind === "integer" || f.kind === "number") : [];
            return h("span", { class: "pb-inline" },
                h("input", { type: "text", class: "pb-input", value: a.field || "", list: listId, size: 16,
                    "aria-label": "Field", "data-key": `${key}:field`, placeholder: "bet_amount",
                    oninput: (e) => set({ field: e.target.value.trim() }) }),
                h("datalist", { id: listId }, numeric.map((f) => h("option", { value: f.name, label: f.label }))));
        }

        webhookBody(a, key, set) {
            const note = h("span", { class: "pb-help", text: "Body (JSON): strings may hold {{event.field}} or {{player.field}}." });
            const box = h("textarea", { class: "pb-input font-mono", rows: 3, cols: 60, "aria-label": "Body", "data-key": `${key}:body`,
                spellcheck: "false", oninput: (e) => {
                    try {
                        set({ body: JSON.parse(e.target.value || "{}") });
                        note.textContent = "Body (JSON): strings may hold {{event.field}} or {{player.field}}.";
                    } catch (error) {
                        set({ body: e.target.value });
                        note.textContent = "Not valid JSON yet.";
                    }
                } });
            box.value = typeof a.body === "string" ? a.body : JSON.stringify(a.body ?? {}, null, 2);
            return h("div", { class: "pb-row" }, box, note);
        }

        name(list, id) {
            const found = (this.catalogue[list] || []).find(([pk]) => String(pk) === String(id));
            return found ? `“${found[1]}”` : `#${id}`;
        }

        words(a) {
            if (WALLET.includes(a.type)) {
                const verb = a.deduct ? "deduct" : "add";
                if ("expression" in a) return `${verb} ${a.type} computed as ${a.expression || "…"} (rounded down)`;
                return `${verb} ${a.amount ?? "…"} ${a.amount === 1 ? a.type.replace(/s$/, "") : a.type}`;
            }
            if (a.type === "accumulate") {
                const unit = a.amount === 1 ? a.currency.replace(/s$/, "") : a.currency;
                return `add ${a.amount ?? "…"} ${unit} per ${perText(a.per) || "…"} of ${a.field || "…"} (the rest carried over)`;
            }
            if (a.type === "set_marker") return `set the marker ${a.marker ? `“${a.marker}”` : "…"}`;
            if (a.type === "remove_marker") return `remove the marker ${a.marker ? `“${a.marker}”` : "…"}`;
            if (a.type === "mission") return `give the mission ${this.name("missions", a.mission)}`;
            if (a.type === "badge") return `award the badge ${this.name("badges", a.badge)}`;
            if (a.type === "bonus") return `give the bonus ${this.name("bonus_templates", a.template)}`;
            return `call ${a.url || "…"}`;
        }

        sentence() {
            if (!this.state.length) return "";
            const text = this.state.map((a) => this.words(a)).join("; then ");
            return `${text[0].toUpperCase()}${text.slice(1)}.`; // the box's own style says "In plain words:"
        }
    }

    function start(root) {
        if (root.dataset.editorStarted || !root.querySelector("textarea.pb-builder-json") || !root.closest("form")) return;
        root.dataset.editorStarted = "1";
        root.activitiesEditor = new Editor(root);
    }

    document.addEventListener("DOMContentLoaded", () => {
        for (const root of document.querySelectorAll("[data-activities-editor]")) start(root);
    });
})();
