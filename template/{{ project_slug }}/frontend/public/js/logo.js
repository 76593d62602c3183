// The site's mark, the drawing of /favicon.svg, built in the page instead of fetched: an <img> of
// it would be one more request (the tab's icon is inline in index.html).
const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';
const SHAPES = [
  ['rect', { width: 32, height: 32, rx: 7, fill: '#1d4ed8' }],
  ['path', { d: 'M9 19.5a5 5 0 0 1 1.6-9.7 7 7 0 0 1 13.2 2.2A4 4 0 0 1 23 20H10', fill: 'none',
    stroke: '#fff', 'stroke-width': 2.4, 'stroke-linecap': 'round' }],
  ['path', { d: 'M16 14v10m-3.5-3.5L16 24l3.5-3.5', fill: 'none', stroke: '#fff', 'stroke-width': 2.4,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round' }],
];

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG_NAMESPACE, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** The mark as an <svg> `size` pixels wide, hidden from screen readers (it decorates a name). */
export function logo(size) {
  const svg = svgElement('svg', { viewBox: '0 0 32 32', width: size, height: size, 'aria-hidden': 'true', focusable: 'false' });
  svg.append(...SHAPES.map(([tag, attributes]) => svgElement(tag, attributes)));
  return svg;
}
