// A table that becomes one card per row on phones (app.css, .table-stack): each cell shows its
// column's name from `data-label`. The roles are spelled out because a table whose parts CSS
// displays as blocks loses them in some browsers' accessibility trees.
import { h } from '../dom.js';

/** `rows` is a list of cell lists; a list's `email` (if any) goes to the row's data-email. */
export function stackedTable(caption, columns, rows) {
  return h('div', { class: 'table-scroll' }, h('table', { class: 'table table-stack', role: 'table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' },
      columns.map((column) => h('th', { scope: 'col', role: 'columnheader' }, column)))),
    h('tbody', { role: 'rowgroup' }, rows.map((cells) => {
      const row = h('tr', { role: 'row', 'data-email': cells.email ?? null });
      cells.forEach((cell, index) => {
        cell.setAttribute('role', 'cell');
        cell.setAttribute('data-label', columns[index]);
        row.append(cell);
      });
      return row;
    }))));
}
