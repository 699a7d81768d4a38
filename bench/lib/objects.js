/**
 * The "many objects" data set (issue 14, finding 6): thousands of small tables spread over a few
 * schemas, plus views, so that what a tool pays per object (queries, files, DDL) dominates and
 * what it pays per row does not. Every table has a primary key and a few rows; every other table
 * has a secondary index too; each view reads one table.
 */
import { nodeProcessRunner } from '../../dist/lib/process.js';

/** Schemas of the data set are named `${schemaPrefix}01`, `${schemaPrefix}02`, … */
export const schemaPrefix = 'objs';

/**
 * @param {number} schemas
 * @returns {string[]} the schema names of a data set with that many schemas
 */
export function objectSchemas(schemas) {
  return Array.from({ length: schemas }, (_, i) => `${schemaPrefix}${String(i + 1).padStart(2, '0')}`);
}

/**
 * The SQL that creates the data set, one schema at a time (each piece is one client call).
 * @param {{ schemas: number, tables: number, views: number, rows: number }} shape
 *   tables and views are totals over all schemas; rows is per table
 * @returns {string[]}
 */
export function objectsSql(shape) {
  const names = objectSchemas(shape.schemas);
  const perSchema = Math.ceil(shape.tables / shape.schemas);
  const viewsPerSchema = Math.ceil(shape.views / shape.schemas);
  let tablesLeft = shape.tables;
  let viewsLeft = shape.views;
  return names.map((schema) => {
    const lines = [`SET sql_log_bin = 0;`, `DROP DATABASE IF EXISTS \`${schema}\`;`, `CREATE DATABASE \`${schema}\`;`, `USE \`${schema}\`;`];
    const tables = Math.min(perSchema, tablesLeft);
    tablesLeft -= tables;
    for (let t = 1; t <= tables; t++) {
      const index = t % 2 === 0 ? ', KEY k_a (a)' : '';
      lines.push(`CREATE TABLE t${t} (id INT NOT NULL PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL${index}) ENGINE=InnoDB;`);
      if (shape.rows > 0) {
        const values = Array.from({ length: shape.rows }, (_, r) => `(${r + 1}, ${(t * 7 + r) % 100}, 'row ${r + 1} of t${t}')`);
        lines.push(`INSERT INTO t${t} VALUES ${values.join(', ')};`);
      }
    }
    const views = Math.min(viewsPerSchema, viewsLeft, tables);
    viewsLeft -= views;
    for (let v = 1; v <= views; v++) lines.push(`CREATE VIEW v${v} AS SELECT id, a, b FROM t${v} WHERE a < 50;`);
    return lines.join('\n');
  });
}

/**
 * Creates the data set on the server (replacing the schemas if they exist), out of the binary log.
 * @param {string} socket
 * @param {{ schemas: number, tables: number, views: number, rows: number, signal: AbortSignal }} options
 */
export async function prepareObjects(socket, options) {
  for (const script of objectsSql(options)) {
    await nodeProcessRunner.run('mariadb', ['-S', socket, '-uroot'], { input: script, signal: options.signal });
  }
}
