// A tiny element builder. Text always goes in as text nodes (never innerHTML), so names coming
// from users or from the API cannot inject markup.

/**
 * h('button', {class: 'btn', type: 'button', onclick: fn}, 'Save') → <button class="btn">Save</button>
 * Props: `class`, `on<event>` handlers, booleans (true → empty attribute, false/null → absent),
 * everything else an attribute. Children: nodes, strings, numbers, arrays; null/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (name === 'value' || name === 'checked') {
      element[name] = value; // properties, so that a re-render shows the current value
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything inside `parent` with `children`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

let idCounter = 0;
/** A document-unique id, for label/for and aria-describedby pairs. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
