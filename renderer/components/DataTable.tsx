// A plain, dense table for list pages: columns with a header and a cell renderer.
import type { ReactNode } from 'react';
import { Paper, Table, TableBody, TableCell, TableContainer, TableHead, TableRow } from '@mui/material';

export interface Column<T> {
  key: string;
  header: string;
  cell: (row: T) => ReactNode;
  align?: 'left' | 'right';
  /** Hidden below this breakpoint to keep narrow windows readable. */
  hideBelow?: 'sm' | 'md' | 'lg';
}

export function DataTable<T>({ rows, columns, rowKey, testId, label }: { rows: T[]; columns: Column<T>[]; rowKey: (row: T) => string | number; testId: string; label: string }) {
  const display = (c: Column<T>) => (c.hideBelow ? { display: { xs: 'none', [c.hideBelow]: 'table-cell' } } : {});
  return (
    <TableContainer component={Paper} variant="outlined" data-testid={testId}>
      <Table size="small" aria-label={label}>
        <TableHead>
          <TableRow>
            {columns.map((c) => (
              <TableCell key={c.key} align={c.align} sx={{ fontWeight: 650, whiteSpace: 'nowrap', color: 'text.secondary', ...display(c) }}>
                {c.header}
              </TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map((r) => (
            <TableRow key={rowKey(r)} hover data-testid={`${testId}-row`}>
              {columns.map((c) => (
                <TableCell key={c.key} align={c.align} data-col={c.key} sx={{ py: 1.25, ...display(c) }}>
                  {c.cell(r)}
                </TableCell>
              ))}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
