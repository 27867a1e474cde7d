// The condition builder (crm/admin/builder): one builder for segment trees, rule conditions, mission tasks and
// tournament scoring. It edits the JSON in the widget's textarea (what the form posts) and never changes the POST
// format; an untouched value is posted exactly as it came. Vanilla JavaScript, no build step, no inline script (CSP).
//
// Widgets: <div class="pb-builder" data-condition-builder="event|tree" data-catalogue-url data-label-id
// data-label-field data-type-field data-audience-url data-row-errors> holding the textarea and a mount point.
(() => {
    "use strict";

    const MAX_DEPTH = 6;
    const MAX_LEAVES = 50;
    const MAX_EVENT_CONDITIONS = 20;
    const NO_VALUE = new Set(["is_set", "not_set", "is_true", "is_false"]);
    const LIST_OPS = new Set(["in", "not_in"]);
    const DAY_OPS = new Set(["within_last_days", "more_than_days_ago", "birthday_in_days"]);
    const NUMBER_OPS = new Set(["gt", "gte", "lt", "lte", "between"]);
    const TEXT_ONLY_OPS = new Set(["contains", "not_contains", "starts_with"]);
    const PREVIEW_OPS = {
        eq: "is", ne: "is not", in: "is one of", not_in: "is none of", contains: "contains",
        not_contains: "does not contain", starts_with: "starts with", gt: "is more than", gte: "is at least",
        lt: "is less than", lte: "is at most", between: "is between", before: "is before", after: "is after",
    };
    const COUNT_WORDS = {
        gte: "at least", gt: "more than", eq: "exactly", ne: "other than", lt: "fewer than", lte: "at most",
        between: "between",
    };
    const catalogues = new Map();
    let uid = 0;

    // --- small helpers ---------------------------------------------------------------------------------------------
    function h(tag, props, ...children) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(props || {})) {
            if (value === undefined || value === null || value === false) continue;
            if (key === "class") node.className = value;
            else if (key === "text") node.textContent = value;
            else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
            else if (key === "value") node.value = value;
            else node.setAttribute(key, value === true ? "" : value);
        }
        for (const child of children.flat()) {
            if (child !== null && child !== undefined && child !== false) {
                node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
        }
        return node;
    }

    function select(options, current, props) {
        const node = h("select", { class: "pb-select", ...props });
        for (const option of options) {
            if (option.group) {
                const group = h("optgroup", { label: option.group });
                for (const inner of option.options) group.append(optionNode(inner, current));
                node.append(group);
            } else {
                node.append(optionNode(option, current));
            }
        }
        return node;
    }

    function optionNode([value, label], current) {
        const option = h("option", { value: String(value), text: label });
        if (String(value) === String(current)) option.selected = true;
        return option;
    }

    function lcfirst(text) {
        if (!text) return text;
        // "KYC status" and "SMS disabled" keep their capitals; "Country" reads "country" inside a sentence.
        return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
    }

    function joinWords(items, last = "or") {
        if (items.length <= 1) return items.join("");
        return `${items.slice(0, -1).join(", ")} ${last} ${items[items.length - 1]}`;
    }

    function days(count) {
        return Number(count) === 1 ? "1 day" : `${count} days`;
    }

    function dayWords(text) {
        if (typeof text !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return String(text);
        const date = new Date(`${text}T00:00:00Z`);
        if (Number.isNaN(date.getTime())) return text;
        return date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
    }

    // "7 days", "2 weeks", "7": a number of days; null when the text says none.
    function parseDays(text) {
        const found = /^\s*(\d{1,5})\s*(d|days?|w|wks?|weeks?)?\s*$/i.exec(String(text));
        if (!found) return null;
        return Number(found[1]) * (/^w/i.test(found[2] || "") ? 7 : 1);
    }

    const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;
    const languageNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "language" }) : null;

    function displayName(names, code) {
        try {
            const name = names && code ? names.of(String(code).toUpperCase()) : null;
            return name && name.toUpperCase() !== String(code).toUpperCase() ? name : String(code);
        } catch (error) {
            return String(code);
        }
    }

    function valueWords(value, field) {
        if (Array.isArray(value)) return joinWords(value.map((v) => valueWords(v, field)));
        if (value === true) return "yes";
        if (value === false) return "no";
        if (value === null || value === undefined || value === "") return "…";
        const choice = (field && field.choices || []).find(([v]) => String(v) === String(value));
        if (choice && field.kind !== "text") return choice[1];
        if (field && field.key === "user_country") return displayName(regionNames, value);
        if (field && field.key === "core_user_language") return displayName(languageNames, String(value).toLowerCase());
        return String(value);
    }

    function csrfToken(form) {
        const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
        if (input) return input.value;
        const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
        return cookie ? decodeURIComponent(cookie.split("=")[1]) : "";
    }

    function loadCatalogue(url, labelId) {
        const key = `${url}?label=${labelId}`;
        if (!catalogues.has(key)) {
            const request = fetch(labelId ? key : url, { credentials: "same-origin", headers: { Accept: "application/json" } })
                .then(async (response) => {
                    const body = await response.json().catch(() => ({}));
                    if (!response.ok) throw new Error(body.message || `The catalogue answered ${response.status}.`);
                    return body;
                });
            request.catch(() => catalogues.delete(key));
            catalogues.set(key, request);
        }
        return catalogues.get(key);
    }

    // --- one builder -------------------------------------------------------------------------------------------------
    class Builder {
        constructor(root) {
            this.root = root;
            this.mode = root.dataset.conditionBuilder;
            this.textarea = root.querySelector("textarea.pb-builder-json");
            this.mount = root.querySelector("[data-builder-mount]");
            this.form = root.closest("form");
            this.prefix = this.textarea.name.includes("-") ? this.textarea.name.replace(/[^-]+$/, "") : "";
            this.catalogue = null;
            this.rowErrors = JSON.parse(root.dataset.rowErrors || "{}");
            this.focusKey = null;
            this.audienceTimer = null;
            this.audienceRequest = 0;
            this.id = `pb-builder-${++uid}`;
            if (!root.dataset.rowErrors) this.rowErrors = this.errorsFromPage();
            this.watchSiblings();
            this.load();
        }

        sibling(name) {
            if (!this.form || !name) return null;
            const found = this.form.elements.namedItem(this.prefix + name) || this.form.elements.namedItem(name);
            return found instanceof RadioNodeList ? found[0] : found;
        }

        labelId() {
            const field = this.sibling(this.root.dataset.labelField);
            return (field && field.value) || this.root.dataset.labelId || "";
        }

        eventType() {
            const field = this.sibling(this.root.dataset.typeField);
            return field ? field.value.trim() : "";
        }

        watchSiblings() {
            const label = this.sibling(this.root.dataset.labelField);
            if (label) label.addEventListener("change", () => this.load());
            const type = this.sibling(this.root.dataset.typeField);
            if (type) {
                // Only when the type really changed: the "change" fired on leaving the box (for a click on the
                // builder's own button) must not redraw the builder under the pointer and lose that click.
                const refresh = () => {
                    if (!this.catalogue || this.eventType() === this.renderedType) return;
                    this.decorateNumberFields();
                    this.render();
                };
                type.addEventListener("input", refresh);
                type.addEventListener("change", refresh);
            }
        }

        // Without a data-row-errors attribute (the widget on a plain field), read the messages the page shows.
        errorsFromPage() {
            const container = this.root.closest("td, .form-row, .field-row, fieldset") || this.root.parentElement;
            const found = {};
            for (const item of container ? container.querySelectorAll(".errorlist li") : []) {
                const text = item.textContent.trim();
                const row = this.mode === "event" ? /^Condition (\d+): (.+)$/s.exec(text) : null;
                const key = row ? String(Number(row[1]) - 1) : "";
                (found[key] = found[key] || []).push(row ? row[2] : text);
            }
            return this.mode === "event" ? found : {};
        }

        parse() {
            const text = this.textarea.value.trim();
            const value = text ? JSON.parse(text) : null;
            if (value === null) return this.mode === "event" ? [] : { all: [] };
            // An empty object is how some trees say "no condition" (a rule's audience): the builder shows everyone.
            if (this.mode === "tree" && value && !Array.isArray(value) && !Object.keys(value).length) return { all: [] };
            if (this.mode === "event" && !Array.isArray(value)) throw new Error("not a list");
            if (this.mode === "tree" && (value === null || typeof value !== "object" || Array.isArray(value))) {
                throw new Error("not a tree");
            }
            return value;
        }

        async load() {
            this.root.classList.add("pb-builder-ready");
            const labelField = this.sibling(this.root.dataset.labelField);
            if (labelField && !labelField.value && !this.root.dataset.labelId) {
                this.catalogue = null;
                this.raw("Choose the label first: the builder then offers its event types and fields.");
                return;
            }
            this.mount.replaceChildren(h("p", { class: "pb-note", text: "Loading the event catalogue…" }));
            try {
                this.catalogue = await loadCatalogue(this.root.dataset.catalogueUrl, this.labelId());
            } catch (error) {
                this.catalogue = null;
                this.raw(`${error.message} Edit the conditions as JSON below, or reload the page.`);
                return;
            }
            try {
                const value = this.parse();
                this.state = this.mode === "tree" && !isGroup(value) ? { all: [value] } : value;
            } catch (error) {
                this.raw("These conditions are not in a shape the builder reads; edit them as JSON below.");
                return;
            }
            this.decorateType();
            this.render();
            if (this.mode === "tree") this.scheduleAudience(0);
        }

        // The sibling event-type box suggests the label's types as it is typed in.
        decorateType() {
            const type = this.sibling(this.root.dataset.typeField);
            if (!type || type.tagName !== "INPUT") return;
            const listId = `${this.id}-types`;
            document.getElementById(listId)?.remove();
            const list = h("datalist", { id: listId },
                this.catalogue.event_types.map((t) => h("option", { value: t.name, label: t.label })));
            this.root.append(list);
            type.setAttribute("list", listId);
            this.decorateNumberFields();
        }

        // Sibling boxes naming a numeric field of the type (a sum, a score) suggest the type's numeric fields.
        decorateNumberFields() {
            const names = (this.root.dataset.numberFields || "").split(",").filter(Boolean);
            const info = this.typeInfo(this.eventType());
            for (const name of names) {
                const input = this.sibling(name);
                if (!input || input.tagName !== "INPUT") continue;
                const listId = `${this.id}-${name}-fields`;
                document.getElementById(listId)?.remove();
                const numeric = info ? info.fields.filter((f) => f.kind === "integer" || f.kind === "number") : [];
                this.root.append(h("datalist", { id: listId },
                    numeric.map((f) => h("option", { value: f.name, label: f.label }))));
                input.setAttribute("list", listId);
            }
        }

        raw(message) {
            this.root.classList.add("pb-builder-raw");
            this.mount.replaceChildren(h("p", { class: "pb-note pb-warning", role: "status", text: message }));
        }

        // The user changed something: write the JSON the form posts, refresh the preview (and the audience).
        changed(structural) {
            this.textarea.value = this.mode === "tree" ? JSON.stringify(this.state, null, 2) : JSON.stringify(this.state);
            this.textarea.dispatchEvent(new Event("change", { bubbles: true }));
            if (structural) this.render();
            else this.updatePreview();
            if (this.mode === "tree") this.scheduleAudience(600);
        }

        render() {
            const active = document.activeElement;
            const keep = this.focusKey || (active && this.mount.contains(active) ? active.dataset.key : null);
            this.focusKey = null;
            this.root.classList.remove("pb-builder-raw");
            const general = this.rowErrors[""] || [];
            const parts = [];
            if (general.length) parts.push(errorList(general));
            this.renderedType = this.eventType();
            if (this.mode === "event") parts.push(this.eventEditor(this.state, "", this.renderedType, true));
            else parts.push(this.groupBox(this.state, "", 1, null));
            this.preview = h("p", { class: "pb-preview", "aria-live": "polite", "data-testid": "builder-preview" });
            parts.push(this.preview);
            if (this.mode === "tree") {
                this.audience = h("p", { class: "pb-audience", "aria-live": "polite", "data-testid": "builder-audience" },
                    "Audience: —");
                parts.push(this.audience);
            }
            parts.push(this.jsonToggle());
            this.mount.replaceChildren(...parts);
            this.updatePreview();
            if (keep) {
                const target = this.mount.querySelector(`[data-key="${CSS.escape(keep)}"]`);
                if (target) target.focus();
            }
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
                        this.state = this.parse();
                        if (this.mode === "tree" && !isGroup(this.state)) this.state = { all: [this.state] };
                        this.render();
                        this.root.classList.add("pb-builder-show-json");
                    } catch (error) {
                        // Half-typed JSON: the builder catches up once it parses.
                    }
                });
            }
            return button;
        }

        updatePreview() {
            if (!this.preview) return;
            this.preview.textContent = this.mode === "event"
                ? eventSentence(this.state, this.typeInfo(this.eventType()), this.eventType())
                : `${this.treeSentence(this.state)}.`;
        }

        typeInfo(name) {
            return this.catalogue.event_types.find((t) => t.name === name) || null;
        }

        // --- event-condition lists (mission tasks, tournaments, rule triggers, a behaviour's "where") ---------------
        eventEditor(list, path, typeName, top) {
            const info = this.typeInfo(typeName);
            const box = h("div", { class: "pb-event-list", "data-path": path });
            if (!typeName) box.append(h("p", { class: "pb-note", text: "Choose the event type first." }));
            else if (!info) box.append(h("p", { class: "pb-note pb-warning", text: `“${typeName}” is not an event type of this label.` }));
            list.forEach((cond, index) => box.append(this.eventRow(list, index, info, `${path}${top ? "" : "."}${index}`, top ? String(index) : null)));
            const full = list.length >= MAX_EVENT_CONDITIONS;
            const add = h("button", {
                type: "button", class: "pb-add", disabled: !info || !info.fields.length || full,
                "data-key": `${path}:add`, "data-testid": "builder-add-condition",
                text: top ? "+ Add a condition" : "+ Add a condition on the event",
                onclick: () => {
                    list.push(newEventCondition(info.fields[0]));
                    this.focusKey = `${path}${top ? "" : "."}${list.length - 1}:field`;
                    this.changed(true);
                },
            });
            box.append(h("div", { class: "pb-actions" }, add,
                full ? h("span", { class: "pb-note", text: ` At most ${MAX_EVENT_CONDITIONS} conditions.` }) : null));
            return box;
        }

        eventRow(list, index, info, key, errorKey) {
            const cond = list[index];
            const fields = info ? info.fields : [];
            let field = fields.find((f) => f.name === cond.field);
            const options = fields.map((f) => [f.name, f.label]);
            if (!field) options.unshift([cond.field, `${cond.field} (not a field of this type)`]);
            const row = h("div", { class: "pb-row", "data-testid": "builder-row" });
            const fieldSelect = select(options, cond.field, {
                "aria-label": "Event field", "data-key": `${key}:field`,
                onchange: (e) => {
                    const next = fields.find((f) => f.name === e.target.value);
                    if (!next) return;
                    Object.assign(cond, retarget(cond, next, next.ops));
                    this.focusKey = `${key}:field`;
                    this.changed(true);
                },
            });
            const ops = field ? field.ops : [cond.op];
            const opSelect = select(ops.map((op) => [op, this.catalogue.ops[op] || op]), cond.op, {
                "aria-label": "Comparison", "data-key": `${key}:op`,
                onchange: (e) => {
                    cond.op = e.target.value;
                    cond.value = reshape(cond.value, cond.op, field);
                    this.focusKey = `${key}:op`;
                    this.changed(true);
                },
            });
            row.append(fieldSelect, opSelect, this.valueInput(cond, field || { kind: "string", choices: [] }, key, "event"));
            // Missions and tournaments compare money in the label's base currency; say so where they do.
            if (field && field.money && errorKey !== null && this.root.dataset.moneyBase === "1") row.append(h("span", { class: "pb-note", text: `in ${this.catalogue.label.base_currency}` }));
            row.append(removeButton(`Remove the condition on ${field ? field.label : cond.field}`, `${key}:remove`, () => {
                list.splice(index, 1);
                this.focusKey = `${key.replace(/\.?\d+$/, "")}:add`;
                this.changed(true);
            }));
            const wrap = h("div", { class: "pb-row-wrap" }, row);
            const errors = errorKey !== null ? this.rowErrors[errorKey] : null;
            if (errors) {
                row.classList.add("pb-row-error");
                wrap.append(errorList(errors));
            }
            return wrap;
        }

        // The value control for a condition: by the field's kind and the operator.
        valueInput(cond, field, key, where) {
            const op = cond.op;
            const set = (value, structural = false) => {
                cond.value = value;
                this.changed(structural);
            };
            if (NO_VALUE.has(op)) return null;
            const kind = field.kind;
            const numeric = kind === "integer" || kind === "number" || (NUMBER_OPS.has(op) && !isDateKind(kind));
            if (DAY_OPS.has(op)) return daysInput(cond.value, key, (n) => set(n));
            if (isDateKind(kind) && op === "between") return pairInput(cond, key, "date", set);
            if (isDateKind(kind)) {
                return h("input", {
                    type: "date", class: "pb-input", value: cond.value || "", "aria-label": "Date", "data-key": `${key}:value`,
                    oninput: (e) => set(e.target.value),
                });
            }
            if (op === "between") return pairInput(cond, key, kind === "integer" ? "integer" : "number", set);
            const choices = field.choices || [];
            const bound = (kind === "choice" || kind === "level") && choices.length && !TEXT_ONLY_OPS.has(op);
            if (LIST_OPS.has(op) && bound) return checkboxes(cond, choices, key, set);
            if (LIST_OPS.has(op)) return listInput(cond.value, numeric ? kind : "text", key, set);
            if (bound) {
                const options = choices.map(([v, label]) => [v, label]);
                const current = cond.value === null || cond.value === undefined ? "" : cond.value;
                if (!choices.some(([v]) => String(v) === String(current))) options.unshift([current, current === "" ? "Choose…" : `${current} (not a choice)`]);
                return select(options, current, {
                    "aria-label": "Value", "data-key": `${key}:value`,
                    onchange: (e) => set(typed(e.target.value, choices)),
                });
            }
            if (kind === "boolean" || (where === "event" && typeof cond.value === "boolean")) {
                return select([["true", "yes"], ["false", "no"]], String(cond.value === true), {
                    "aria-label": "Value", "data-key": `${key}:value`,
                    onchange: (e) => set(e.target.value === "true"),
                });
            }
            if (numeric) return numberInput(cond.value, kind, key, set);
            const input = h("input", {
                type: "text", class: "pb-input", value: cond.value ?? "", "aria-label": "Value", "data-key": `${key}:value`,
                placeholder: kind === "markers" ? "marker, e.g. vip" : "value",
                oninput: (e) => set(e.target.value),
            });
            const suggestions = kind === "markers" ? this.catalogue.markers.map((m) => [m, m])
                : field.suggestions && field.suggestions.length ? field.suggestions : choices;
            if (suggestions.length) {
                const listId = `${this.id}-${key.replace(/[^\w-]/g, "_")}-list`;
                input.setAttribute("list", listId);
                return h("span", { class: "pb-inline" }, input, h("datalist", { id: listId },
                    suggestions.map(([v, label]) => h("option", { value: String(v), label: String(label) }))));
            }
            return input;
        }

        // --- condition trees (segments, rules' segment conditions) ----------------------------------------------
        groupBox(node, path, depth, parent) {
            const kind = groupKind(node);
            const children = groupChildren(node);
            const box = h("div", { class: `pb-group pb-depth-${depth}`, "data-path": path, role: "group",
                "aria-label": `${kindWords(kind)} these conditions`, "data-testid": "builder-group" });
            const head = h("div", { class: "pb-group-head" },
                h("span", { class: "pb-note", text: depth === 1 ? "Players matching" : "Matching" }),
                select([["all", "all of"], ["any", "any of"], ["none", "none of"]], kind, {
                    "aria-label": "Match", "data-key": `${path}:kind`,
                    onchange: (e) => {
                        const replaced = makeGroup(e.target.value, children);
                        replaceNode(this, parent, node, replaced);
                        this.focusKey = `${path}:kind`;
                        this.changed(true);
                    },
                }),
                h("span", { class: "pb-note", text: "these:" }));
            if (parent) {
                head.append(removeButton("Remove this group", `${path}:remove`, () => {
                    parent.list.splice(parent.index, 1);
                    this.focusKey = `${parent.path}:add-field`;
                    this.changed(true);
                }));
            }
            if (this.rowErrors[path] && path) head.append(errorList(this.rowErrors[path]));
            box.append(head);
            const step = kind === "none" ? "not.any" : kind;
            children.forEach((child, index) => {
                const childPath = `${path ? `${path}.` : ""}${step}[${index}]`;
                box.append(this.nodeBox(child, childPath, depth, { list: children, index, path }));
            });
            if (!children.length) {
                box.append(h("p", { class: "pb-note", text: kind === "any" ? "No condition: nobody matches." : kind === "none" ? "No condition: everyone matches." : "No condition: every player matches." }));
            }
            box.append(this.addButtons(children, path, depth, step));
            return box;
        }

        nodeBox(node, path, depth, parent) {
            if (isGroup(node)) return this.groupBox(node, path, depth + 1, parent);
            let body;
            if (node && typeof node === "object" && "not" in node) {
                // {"not": leaf}: shown as it is; the group menu's "none of" is how the builder writes a negation.
                body = h("div", { class: "pb-not" }, h("span", { class: "pb-note", text: "Not:" }),
                    this.nodeBox(node.not, `${path}.not`, depth, { list: null, index: 0, path, holder: node }));
            } else if (node && "field" in node) body = this.fieldLeaf(node, path);
            else if (node && "behaviour" in node) body = this.behaviourLeaf(node, path);
            else if (node && "segment" in node) body = this.segmentLeaf(node, path);
            else body = h("code", { text: JSON.stringify(node) });
            const remove = parent && parent.list ? removeButton("Remove this condition", `${path}:remove`, () => {
                parent.list.splice(parent.index, 1);
                this.focusKey = `${parent.path}:add-field`;
                this.changed(true);
            }) : null;
            const wrap = h("div", { class: "pb-leaf", "data-path": path, "data-testid": "builder-leaf" }, body, remove);
            const errors = this.rowErrors[path];
            if (errors) {
                wrap.classList.add("pb-row-error");
                return h("div", { class: "pb-row-wrap" }, wrap, errorList(errors));
            }
            return wrap;
        }

        addButtons(children, path, depth, step) {
            const leaves = countLeaves(this.state);
            const full = leaves >= MAX_LEAVES;
            const add = (what, label, make, testid) => h("button", {
                type: "button", class: "pb-add", disabled: full, "data-key": `${path}:add-${what}`, "data-testid": testid,
                text: label,
                onclick: () => {
                    children.push(make());
                    this.focusKey = `${path ? `${path}.` : ""}${step}[${children.length - 1}]:${what === "group" ? "kind" : what === "segment" ? "segment" : what === "behaviour" ? "measure" : "field"}`;
                    this.changed(true);
                },
            });
            const firstField = this.catalogue.fields[0];
            const buttons = [
                add("field", "+ Condition", () => newFieldLeaf(firstField), "builder-add-field"),
                add("behaviour", "+ Activity (events)", () => newBehaviour(this.catalogue), "builder-add-behaviour"),
            ];
            if (this.segmentChoices().length) buttons.push(add("segment", "+ In a segment", () => ({ segment: this.segmentChoices()[0][0] }), "builder-add-segment"));
            if (depth < MAX_DEPTH - 1) buttons.push(add("group", "+ Group", () => ({ any: [] }), "builder-add-group"));
            return h("div", { class: "pb-actions" }, buttons,
                full ? h("span", { class: "pb-note", text: ` At most ${MAX_LEAVES} conditions.` }) : null);
        }

        segmentChoices() {
            const exclude = this.root.dataset.excludeSegment;
            return this.catalogue.segments.filter(([id]) => String(id) !== String(exclude));
        }

        fieldLeaf(node, path) {
            const fields = this.catalogue.fields;
            let field = fieldOf(fields, node.field);
            const groups = [];
            for (const f of fields) {
                let group = groups.find((g) => g.group === f.group);
                if (!group) groups.push(group = { group: f.group, options: [] });
                group.options.push([f.key, f.label]);
            }
            if (!fields.some((f) => f.key === node.field)) groups.unshift({ group: "Not found", options: [[node.field, field.label]] });
            const row = h("div", { class: "pb-row" },
                select(groups, node.field, {
                    "aria-label": "Player field", "data-key": `${path}:field`,
                    onchange: (e) => {
                        const next = fieldOf(fields, e.target.value);
                        const moved = retarget(node, next, next.ops);
                        Object.keys(node).forEach((k) => delete node[k]);
                        Object.assign(node, moved);
                        this.focusKey = `${path}:field`;
                        this.changed(true);
                    },
                }),
                select(field.ops.map((op) => [op, opWords(this.catalogue, field, op)]), node.op, {
                    "aria-label": "Comparison", "data-key": `${path}:op`,
                    onchange: (e) => {
                        node.op = e.target.value;
                        if (NO_VALUE.has(node.op)) delete node.value;
                        else node.value = reshape(node.value, node.op, field);
                        this.focusKey = `${path}:op`;
                        this.changed(true);
                    },
                }),
                this.valueInput(node, valueField(field, node.op), path, "tree"));
            if (field.help) row.append(h("span", { class: "pb-note pb-help", text: field.help }));
            return row;
        }

        segmentLeaf(node, path) {
            const choices = this.segmentChoices().map(([id, name]) => [id, name]);
            if (!choices.some(([id]) => String(id) === String(node.segment))) choices.unshift([node.segment, `Segment ${node.segment} (not found)`]);
            return h("div", { class: "pb-row" }, h("span", { class: "pb-note", text: "In the segment" }),
                select(choices, node.segment, {
                    "aria-label": "Segment", "data-key": `${path}:segment`,
                    onchange: (e) => {
                        node.segment = Number(e.target.value);
                        this.changed(false);
                    },
                }));
        }

        behaviourLeaf(node, path) {
            const b = node.behaviour || (node.behaviour = {});
            const types = this.catalogue.event_types;
            const info = this.typeInfo(b.event_type);
            const numeric = info ? info.fields.filter((f) => f.kind === "integer" || f.kind === "number") : [];
            const typeOptions = types.map((t) => [t.name, t.label]);
            if (!info) typeOptions.unshift([b.event_type || "", b.event_type ? `${b.event_type} (unknown)` : "Choose…"]);
            const line = h("div", { class: "pb-row" },
                select(this.catalogue.behaviour.measures, b.measure || "count", {
                    "aria-label": "Measure", "data-key": `${path}:measure`,
                    onchange: (e) => {
                        b.measure = e.target.value;
                        if (b.measure === "count") delete b.field;
                        else if (!numeric.some((f) => f.name === b.field)) b.field = numeric.length ? numeric[0].name : "";
                        this.focusKey = `${path}:measure`;
                        this.changed(true);
                    },
                }));
            if (b.measure && b.measure !== "count") {
                const options = numeric.map((f) => [f.name, lcfirst(f.label)]);
                if (!numeric.some((f) => f.name === b.field)) options.unshift([b.field || "", b.field || "Choose…"]);
                line.append(select(options, b.field || "", {
                    "aria-label": "Event field", "data-key": `${path}:bfield`,
                    onchange: (e) => { b.field = e.target.value; this.changed(false); },
                }), h("span", { class: "pb-note", text: "of" }));
            }
            line.append(select(typeOptions, b.event_type || "", {
                "aria-label": "Event type", "data-key": `${path}:type`,
                onchange: (e) => {
                    b.event_type = e.target.value;
                    const next = this.typeInfo(b.event_type);
                    const names = next ? next.fields.map((f) => f.name) : [];
                    b.where = (b.where || []).filter((c) => names.includes(c.field));
                    if (b.field && !names.includes(b.field)) {
                        const first = next && next.fields.find((f) => f.kind === "integer" || f.kind === "number");
                        b.field = first ? first.name : "";
                    }
                    this.focusKey = `${path}:type`;
                    this.changed(true);
                },
            }), h("span", { class: "pb-note", text: "events" }), this.windowInput(b, path));
            const compare = h("div", { class: "pb-row" }, h("span", { class: "pb-note", text: "is" }),
                select(this.catalogue.behaviour.ops.map((op) => [op, this.catalogue.ops[op]]), node.op || "gte", {
                    "aria-label": "Comparison", "data-key": `${path}:op`,
                    onchange: (e) => {
                        node.op = e.target.value;
                        node.value = reshape(node.value, node.op, { kind: "number" });
                        this.focusKey = `${path}:op`;
                        this.changed(true);
                    },
                }),
                this.valueInput(node, { kind: b.measure === "count" ? "integer" : "number", choices: [] }, path, "tree"));
            const where = this.eventEditor(b.where || (b.where = []), `${path}.behaviour.where`, b.event_type, false);
            where.classList.add("pb-where");
            return h("div", { class: "pb-behaviour" }, line, where, compare);
        }

        windowInput(b, path) {
            const w = b.window || (b.window = { last_days: 30 });
            const mode = "previous" in w ? "previous" : "from" in w ? "range" : "last";
            const box = h("span", { class: "pb-inline" });
            box.append(select([["last", "in the last"], ["previous", "in the previous"], ["range", "between"]], mode, {
                "aria-label": "Time window", "data-key": `${path}:window`,
                onchange: (e) => {
                    const today = new Date().toISOString().slice(0, 10);
                    b.window = { last: { last_days: 30 }, previous: { previous: "week" }, range: { from: today, to: today } }[e.target.value];
                    this.focusKey = `${path}:window`;
                    this.changed(true);
                },
            }));
            if (mode === "last") {
                box.append(daysInput(w.last_days, `${path}:window`, (n) => { w.last_days = n; this.changed(false); }));
            } else if (mode === "previous") {
                box.append(select(this.catalogue.behaviour.previous, w.previous, {
                    "aria-label": "Previous", "data-key": `${path}:previous`,
                    onchange: (e) => { w.previous = e.target.value; this.changed(false); },
                }));
            } else {
                for (const end of ["from", "to"]) {
                    if (end === "to") box.append(h("span", { class: "pb-note", text: "and" }));
                    box.append(h("input", {
                        type: "date", class: "pb-input", value: w[end] || "", "aria-label": end === "from" ? "First day" : "Last day",
                        "data-key": `${path}:${end}`, oninput: (e) => { w[end] = e.target.value; this.changed(false); },
                    }));
                }
            }
            return box;
        }

        // --- plain words -------------------------------------------------------------------------------------------
        treeSentence(root) {
            const kind = groupKind(root);
            const children = groupChildren(root);
            if (!children.length) return kind === "any" ? "Nobody" : "Every player of the label";
            return `Players ${this.describe(root, true)}`;
        }

        describe(node, top = false) {
            if (isGroup(node)) {
                const kind = groupKind(node);
                const children = groupChildren(node);
                if (!children.length) return kind === "any" ? "(nobody)" : "(everyone)";
                if (kind === "none") return `except those ${joinWords(children.map((c) => this.describe(c)), "or")}`;
                if (kind === "any") {
                    const text = joinWords(children.map((c) => this.describe(c)), "or");
                    return top || children.length === 1 ? text : `(${text})`;
                }
                // "… and …, except those …": negations read last.
                const negative = (c) => (isGroup(c) && groupKind(c) === "none") || (c && !isGroup(c) && "not" in c);
                const plus = joinWords(children.filter((c) => !negative(c)).map((c) => this.describe(c)), "and");
                const minus = children.filter(negative).map((c) => this.describe(c));
                const text = [plus, ...minus].filter(Boolean).join(", ");
                return top || children.length === 1 ? text : `(${text})`;
            }
            if (node && "not" in node) return `except those ${this.describe(node.not)}`;
            if (node && "field" in node) return fieldWords(node, fieldOf(this.catalogue.fields, node.field), this.catalogue);
            if (node && "segment" in node) {
                const found = this.catalogue.segments.find(([id]) => String(id) === String(node.segment));
                return `who are in the segment “${found ? found[1] : node.segment}”`;
            }
            if (node && "behaviour" in node) return this.behaviourWords(node);
            return "(?)";
        }

        behaviourWords(node) {
            const b = node.behaviour || {};
            const info = this.typeInfo(b.event_type);
            const type = info ? lcfirst(info.label) : b.event_type || "…";
            const where = (b.where || []).length ? ` where ${conditionsWords(b.where, info)}` : "";
            const window = windowWords(b.window || {});
            const value = node.op === "between" && Array.isArray(node.value) ? `${node.value[0]} and ${node.value[1]}` : valueWords(node.value);
            if ((b.measure || "count") === "count") {
                const plural = node.op === "between" || Number(node.value) !== 1 ? "events" : "event";
                return `who had ${COUNT_WORDS[node.op] || node.op} ${value} ${type} ${plural}${where} ${window}`;
            }
            const field = info && info.fields.find((f) => f.name === b.field);
            const adjective = { sum: "total", min: "smallest", max: "largest" }[b.measure];
            const fieldLabel = field ? lcfirst(field.label) : b.field || "…";
            return `whose ${adjective} ${fieldLabel} over ${type} events${where} ${window} ${PREVIEW_OPS[node.op] || node.op} ${value}`;
        }

        // --- audience --------------------------------------------------------------------------------------------
        scheduleAudience(delay) {
            const url = this.root.dataset.audienceUrl;
            if (!this.audience) return;
            if (!url) {
                this.audience.textContent = "Audience: —";
                return;
            }
            clearTimeout(this.audienceTimer);
            this.audienceTimer = setTimeout(() => this.countAudience(url), delay);
        }

        // The tree, and where it is counted: the segment being edited (so it cannot name itself) or the label.
        audienceBody() {
            const body = { conditions: this.state };
            const segment = Number(this.root.dataset.excludeSegment);
            const label = Number(this.labelId());
            if (segment) body.segment = segment;
            else if (label) body.label = label;
            return body;
        }

        async countAudience(url) {
            const ticket = ++this.audienceRequest;
            this.audience.textContent = "Audience: counting…";
            try {
                const response = await fetch(url, {
                    method: "POST", credentials: "same-origin",
                    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(this.form) },
                    body: JSON.stringify(this.audienceBody()),
                });
                const body = await response.json().catch(() => ({}));
                if (ticket !== this.audienceRequest || !this.audience) return;
                if (response.ok && typeof body.count === "number") {
                    this.audience.replaceChildren("Audience: ", h("strong", { text: body.count.toLocaleString("en-GB") }),
                        body.count === 1 ? " player" : " players");
                    if (body.description) this.audience.title = body.description;
                } else {
                    // The rows say where (once saved); here, the message alone is enough to see why there is no count.
                    const errors = body.errors ? Object.values(body.errors).flat() : [body.message || `The count answered ${response.status}.`];
                    this.audience.replaceChildren("Audience: — ", h("span", { class: "pb-error-text", text: errors.join("; ") }));
                }
            } catch (error) {
                if (ticket === this.audienceRequest && this.audience) this.audience.textContent = "Audience: — (could not count)";
            }
        }
    }

    // --- the state's shape -----------------------------------------------------------------------------------------
    function isGroup(node) {
        if (!node || typeof node !== "object" || Array.isArray(node)) return false;
        if ("all" in node || "any" in node) return true;
        return "not" in node && node.not && typeof node.not === "object" && "any" in node.not && Object.keys(node.not).length === 1;
    }

    function groupKind(node) {
        return "all" in node ? "all" : "any" in node ? "any" : "none";
    }

    function groupChildren(node) {
        const kind = groupKind(node);
        const list = kind === "none" ? node.not.any : node[kind];
        return Array.isArray(list) ? list : [];
    }

    function makeGroup(kind, children) {
        return kind === "none" ? { not: { any: children } } : { [kind]: children };
    }

    function kindWords(kind) {
        return { all: "All of", any: "Any of", none: "None of" }[kind];
    }

    function replaceNode(builder, parent, node, replaced) {
        if (!parent) builder.state = replaced;
        else if (parent.list) parent.list[parent.index] = replaced;
        else if (parent.holder) parent.holder.not = replaced;
    }

    function countLeaves(node) {
        if (isGroup(node)) return groupChildren(node).reduce((sum, child) => sum + countLeaves(child), 0);
        if (node && typeof node === "object" && "not" in node) return countLeaves(node.not);
        return 1;
    }

    function isDateKind(kind) {
        return kind === "date" || kind === "datetime";
    }

    function fieldOf(fields, key) {
        const found = fields.find((f) => f.key === key);
        if (found) return found;
        const custom = /^custom\.(.+)$/.exec(key || "");
        const ops = ["eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with", "gt", "gte", "lt", "lte",
            "between", "is_true", "is_false", "is_set", "not_set"];
        return { key, label: custom ? `Custom property ${custom[1]}` : `${key} (unknown field)`, kind: "text", ops, choices: [], group: "" };
    }

    // A custom property's numeric ops take numbers; its booleans yes / no.
    function valueField(field, op) {
        if (field.group === "Custom properties" && NUMBER_OPS.has(op)) return { ...field, kind: "number" };
        return field;
    }

    function opWords(catalogue, field, op) {
        const special = catalogue.kind_ops[field.kind];
        return (special && special[op]) || catalogue.ops[op] || op;
    }

    function defaultValue(field, op) {
        if (!field || NO_VALUE.has(op)) return undefined;
        if (DAY_OPS.has(op)) return 7;
        if (op === "between") return isDateKind(field.kind) ? ["", ""] : [0, 0];
        if (LIST_OPS.has(op)) return [];
        if (field.kind === "boolean") return true;
        if ((field.kind === "choice" || field.kind === "level") && field.choices.length && !TEXT_ONLY_OPS.has(op)) return field.choices[0][0];
        if (field.kind === "integer" || field.kind === "number" || NUMBER_OPS.has(op)) return null;
        return "";
    }

    function newEventCondition(field) {
        const op = field.ops[0];
        const value = defaultValue(field, op);
        return { field: field.name, op, value: value === undefined ? "" : value };
    }

    function newFieldLeaf(field) {
        const leaf = { field: field.key, op: field.ops[0] };
        const value = defaultValue(field, leaf.op);
        if (value !== undefined) leaf.value = value;
        return leaf;
    }

    function newBehaviour(catalogue) {
        const type = catalogue.event_types.find((t) => t.name === "deposit") || catalogue.event_types[0];
        return { behaviour: { event_type: type.name, where: [], measure: "count", window: { last_days: 30 } }, op: "gte", value: 1 };
    }

    // The condition moved to another field: keep the operator and value where they still fit.
    function retarget(cond, field, ops) {
        const op = ops.includes(cond.op) ? cond.op : ops[0];
        const moved = { field: field.name || field.key, op };
        if (!NO_VALUE.has(op)) {
            const kept = cond.value !== undefined && fits(cond.value, field, op) ? cond.value : defaultValue(field, op);
            moved.value = kept === undefined ? "" : kept;
        }
        return moved;
    }

    function fits(value, field, op) {
        if (LIST_OPS.has(op) || op === "between") return Array.isArray(value) && value.length > 0;
        if (Array.isArray(value)) return false;
        if (DAY_OPS.has(op)) return Number.isInteger(value);
        if (field.kind === "integer" || field.kind === "number") return typeof value === "number";
        if (field.kind === "boolean") return typeof value === "boolean";
        if (field.choices && field.choices.length && !TEXT_ONLY_OPS.has(op) && field.kind !== "text") return field.choices.some(([v]) => v === value);
        return typeof value === "string";
    }

    // The operator changed: a list becomes one value and back, a pair its first half.
    function reshape(value, op, field) {
        if (NO_VALUE.has(op)) return undefined;
        if (DAY_OPS.has(op)) return Number.isInteger(value) ? value : 7;
        if (op === "between") {
            if (Array.isArray(value) && value.length === 2) return value;
            const one = Array.isArray(value) ? value[0] : value;
            return [one ?? (isDateKind(field && field.kind) ? "" : 0), one ?? (isDateKind(field && field.kind) ? "" : 0)];
        }
        if (LIST_OPS.has(op)) return Array.isArray(value) ? value : value === null || value === undefined || value === "" ? [] : [value];
        if (Array.isArray(value)) return value.length ? value[0] : defaultValue(field, op) ?? "";
        if (value === undefined) return defaultValue(field, op) ?? "";
        return value;
    }

    function typed(text, choices) {
        const found = choices.find(([v]) => String(v) === text);
        return found ? found[0] : text;
    }

    // --- value controls -------------------------------------------------------------------------------------------
    function numberInput(value, kind, key, set, label = "Value") {
        // A stored value that is not a number (a server error says so) stays visible, as text, until corrected.
        const wrong = value !== null && value !== undefined && value !== "" && typeof value !== "number";
        const input = h("input", {
            type: wrong ? "text" : "number", "aria-invalid": wrong ? "true" : null, class: "pb-input pb-number", step: kind === "integer" ? "1" : "any",
            value: typeof value === "number" || wrong ? String(value) : "", "aria-label": label, "data-key": `${key}:value${label === "Value" ? "" : `:${label}`}`,
            oninput: (e) => {
                const text = e.target.value.trim();
                const number = Number(text);
                e.target.setAttribute("aria-invalid", String(text !== "" && Number.isNaN(number)));
                set(text === "" ? null : Number.isNaN(number) ? text : number);
            },
        });
        return input;
    }

    function pairInput(cond, key, kind, set) {
        const pair = Array.isArray(cond.value) && cond.value.length === 2 ? cond.value : ["", ""];
        const side = (index, label) => {
            const update = (v) => {
                const next = [...pair];
                next[index] = v;
                pair[index] = v;
                set(next);
            };
            if (kind === "date") {
                return h("input", { type: "date", class: "pb-input", value: pair[index] || "", "aria-label": label,
                    "data-key": `${key}:${label}`, oninput: (e) => update(e.target.value) });
            }
            return numberInput(pair[index], kind, key, update, label);
        };
        return h("span", { class: "pb-inline" }, side(0, "From"), h("span", { class: "pb-note", text: "and" }), side(1, "To"));
    }

    function daysInput(value, key, set) {
        const hint = h("span", { class: "pb-note", "aria-live": "polite" });
        const input = h("input", {
            type: "text", class: "pb-input pb-days", value: Number.isInteger(value) ? days(value) : "", inputmode: "numeric",
            placeholder: "e.g. 7 days", "aria-label": "Number of days", "data-key": `${key}:days`,
            oninput: (e) => {
                const count = parseDays(e.target.value);
                hint.textContent = count === null ? "Type a number of days, e.g. 7 days or 2 weeks." : "";
                e.target.setAttribute("aria-invalid", String(count === null));
                set(count);
            },
            onblur: (e) => {
                const count = parseDays(e.target.value);
                if (count !== null) e.target.value = days(count);
            },
        });
        return h("span", { class: "pb-inline" }, input, hint);
    }

    function listInput(value, kind, key, set) {
        const list = Array.isArray(value) ? value : [];
        const hint = h("span", { class: "pb-note", "aria-live": "polite" });
        const input = h("input", {
            type: "text", class: "pb-input pb-list", value: list.join(", "), placeholder: "values, separated by commas",
            "aria-label": "Values, separated by commas", "data-key": `${key}:value`,
            oninput: (e) => {
                const parts = e.target.value.split(",").map((p) => p.trim()).filter(Boolean);
                if (kind === "integer" || kind === "number") {
                    const bad = parts.find((p) => Number.isNaN(Number(p)) || (kind === "integer" && !/^-?\d+$/.test(p)));
                    hint.textContent = bad ? `“${bad}” is not ${kind === "integer" ? "a whole number" : "a number"}.` : "";
                    set(parts.map((p) => (Number.isNaN(Number(p)) ? p : Number(p))));
                } else set(parts);
            },
        });
        return h("span", { class: "pb-inline" }, input, hint);
    }

    function checkboxes(cond, choices, key, set) {
        const chosen = new Set((Array.isArray(cond.value) ? cond.value : []).map(String));
        const box = h("fieldset", { class: "pb-checks" }, h("legend", { class: "pb-sr", text: "Values" }));
        choices.forEach(([value, label], index) => {
            const id = `${key.replace(/[^\w-]/g, "_")}-${index}-${++uid}`;
            box.append(h("label", { class: "pb-check", for: id },
                h("input", {
                    type: "checkbox", id, checked: chosen.has(String(value)), "data-key": `${key}:value:${index}`,
                    onchange: (e) => {
                        if (e.target.checked) chosen.add(String(value));
                        else chosen.delete(String(value));
                        set(choices.filter(([v]) => chosen.has(String(v))).map(([v]) => v));
                    },
                }), label));
        });
        return box;
    }

    function removeButton(label, key, onclick) {
        return h("button", { type: "button", class: "pb-remove", "aria-label": label, title: label, "data-key": key, onclick },
            h("span", { class: "material-symbols-outlined", "aria-hidden": "true", text: "close" }));
    }

    function errorList(messages) {
        return h("ul", { class: "pb-errors", role: "alert" }, messages.map((m) => h("li", { text: m })));
    }

    // --- sentences -------------------------------------------------------------------------------------------------
    function conditionWords(cond, info) {
        const field = info && info.fields.find((f) => f.name === cond.field);
        const label = field ? lcfirst(field.label) : cond.field;
        const shaped = field ? { ...field, key: field.name } : null;
        const value = cond.op === "contains" ? `“${cond.value}”` : valueWords(cond.value, shaped);
        return `${label} ${PREVIEW_OPS[cond.op] || cond.op} ${value}`;
    }

    function conditionsWords(list, info) {
        return joinWords(list.map((c) => conditionWords(c, info)), "and");
    }

    function eventSentence(list, info, typeName) {
        if (!typeName) return "Choose the event type; its conditions show here in plain words.";
        const type = info ? info.label : typeName;
        if (!list.length) return `Every ${lcfirst(type)} event counts.`;
        return `${type} events where ${conditionsWords(list, info)}.`;
    }

    function windowWords(w) {
        if ("last_days" in w) return Number(w.last_days) === 1 ? "today" : `in the last ${days(w.last_days ?? "…")}`;
        if ("previous" in w) return w.previous === "day" ? "yesterday" : `in the previous ${w.previous}`;
        if ("from" in w) return `from ${dayWords(w.from)} to ${dayWords(w.to)}`;
        return "";
    }

    function fieldWords(node, field, catalogue) {
        const label = lcfirst(field.label);
        const op = node.op;
        const v = node.value;
        if (field.kind === "markers") {
            return { has: `who have the marker “${v}”`, has_not: `who do not have the marker “${v}”`, is_set: "who have any marker", not_set: "who have no marker" }[op] || `markers ${op}`;
        }
        if (op === "is_true" || op === "is_false") {
            if (/^In /.test(field.label)) return `who are ${op === "is_true" ? "" : "not "}${lcfirst(field.label)}`;
            return `whose ${label} is ${op === "is_true" ? "yes" : "no"}`;
        }
        if (op === "is_set") return `whose ${label} is set`;
        if (op === "not_set") return `whose ${label} is not set`;
        if (op === "birthday_in_days") return Number(v) === 0 ? "whose birthday is today" : `whose birthday is in ${days(v)}`;
        if (op === "within_last_days") return `whose ${label} is within the last ${days(v)}`;
        if (op === "more_than_days_ago") return `whose ${label} is more than ${days(v)} ago`;
        const show = (x) => (isDateKind(field.kind) ? dayWords(x) : valueWords(x, field));
        if (op === "between") return `whose ${label} is between ${show(Array.isArray(v) ? v[0] : v)} and ${show(Array.isArray(v) ? v[1] : v)}`;
        if (TEXT_ONLY_OPS.has(op)) return `whose ${label} ${PREVIEW_OPS[op]} “${v}”`;
        return `whose ${label} ${PREVIEW_OPS[op] || catalogue.ops[op] || op} ${show(v)}`;
    }

    // --- start every builder on the page, and those inline rows add later -------------------------------------------
    function start(root) {
        if (root.dataset.builderStarted || !root.querySelector("textarea.pb-builder-json")) return;
        if (root.querySelector("textarea.pb-builder-json").name.includes("__prefix__")) return; // the inline template
        if (!root.isConnected || !root.closest("form")) return; // a copy a script made and dropped again
        root.dataset.builderStarted = "1";
        root.builder = new Builder(root);
    }

    function startAll(scope) {
        for (const root of scope.querySelectorAll("[data-condition-builder]")) start(root);
    }

    document.addEventListener("DOMContentLoaded", () => {
        startAll(document);
        new MutationObserver((changes) => {
            for (const change of changes) {
                for (const node of change.addedNodes) if (node.nodeType === 1) startAll(node.parentElement || node);
            }
        }).observe(document.body, { childList: true, subtree: true });
    });

    // Shared with the rule activities' editor (activities.js): the DOM helpers and the catalogue's one cache per label.
    window.pitbossBuilder = { parseDays, start, h, select, errorList, loadCatalogue };
})();
