import Table from 'cli-table3';
import pc from 'picocolors';

/**
 * A table for people to read. cli-table3 paints its borders and headings with escape codes even
 * when output goes to a pipe or NO_COLOR is set; picocolors already knows whether colour is
 * wanted, so the table follows it.
 */
export function createTable(options: Table.TableConstructorOptions = {}) {
  if (pc.isColorSupported) return new Table(options);
  return new Table({ ...options, style: { ...options.style, head: [], border: [] } });
}
