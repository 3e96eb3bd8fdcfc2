// Datasets: imported question/answer files (datasets:list) with their splits and mapping;
// import by path (datasets:inspect, then datasets:import), details with preview, mapping,
// template and token statistics (datasets:preview, datasets:stats), delete after asking.
import { useState } from 'react';
import { Box, Button, Chip, IconButton, Tooltip, Typography } from '@mui/material';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import QueryStatsOutlinedIcon from '@mui/icons-material/QueryStatsOutlined';
import CloudDownloadOutlinedIcon from '@mui/icons-material/CloudDownloadOutlined';
import TableChartOutlinedIcon from '@mui/icons-material/TableChartOutlined';
import UploadFileOutlinedIcon from '@mui/icons-material/UploadFileOutlined';
import type { Dataset } from '../../../common/contract/datasets';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { DisabledAction } from '../../components/DisabledAction';
import { QueryView } from '../../components/QueryView';
import { DataTable, type Column } from '../../components/DataTable';
import { formatDateTime, formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';
import { DatasetDetailsDialog, DeleteDatasetDialog, ImportDatasetDialog } from './DatasetDialogs';
import { datasetStrings } from './strings';

export function DatasetsPage() {
  const { t, language } = useI18n();
  const datasets = useQuery(() => api.datasets.list({}));
  const [importing, setImporting] = useState(false);
  const [details, setDetails] = useState<Dataset | null>(null);
  const [deleting, setDeleting] = useState<Dataset | null>(null);
  const notYet = t('common.notYet');
  const importButton = (testId: string) => (
    <Button variant="contained" startIcon={<UploadFileOutlinedIcon />} onClick={() => setImporting(true)} data-testid={testId}>
      {t('datasets.importFile')}
    </Button>
  );
  return (
    <>
      <PageHeader
        route="datasets"
        title={t('datasets.title')}
        subtitle={t('datasets.subtitle')}
        actions={
          <>
            <DisabledAction reason={notYet} variant="outlined" startIcon={<CloudDownloadOutlinedIcon />} testId="datasets-pull">
              {t('datasets.pull')}
            </DisabledAction>
            {importButton('datasets-import')}
          </>
        }
      />
      <ImportDatasetDialog
        open={importing}
        onClose={() => setImporting(false)}
        onImported={() => datasets.reload()}
      />
      <DatasetDetailsDialog dataset={details} onClose={() => setDetails(null)} onChanged={() => datasets.reload()} />
      <DeleteDatasetDialog dataset={deleting} onClose={() => setDeleting(null)} onDeleted={() => datasets.reload()} />
      <QueryView query={datasets} failedTitle={t('datasets.loadFailed')} testId="datasets">
        {(list) =>
          list.length === 0 ? (
            <EmptyState
              testId="datasets-empty"
              icon={<TableChartOutlinedIcon />}
              title={t('datasets.emptyTitle')}
              body={t('datasets.emptyBody')}
              actions={importButton('datasets-empty-import')}
            />
          ) : (
            <DataTable rows={list} columns={datasetColumns(t, language, setDetails, setDeleting)} rowKey={(d) => d.id} testId="datasets-table" label={t('datasets.title')} />
          )
        }
      </QueryView>
    </>
  );
}

const split = (n: number | null, language: Language) => (n === null ? '—' : formatNumber(n, language));

function datasetColumns(t: Translate, language: Language, onDetails: (d: Dataset) => void, onDelete: (d: Dataset) => void): Column<Dataset>[] {
  const s = datasetStrings(language);
  return [
    {
      key: 'name',
      header: t('datasets.colName'),
      cell: (d) => (
        <Box sx={{ minWidth: 160 }}>
          <Typography variant="body2" sx={{ fontWeight: 650 }} data-testid="dataset-name">
            {d.name}
          </Typography>
          <Typography variant="caption" color="text.secondary" sx={{ fontFamily: monoFonts, wordBreak: 'break-all' }}>
            {d.sourcePath ?? d.storedPath}
          </Typography>
        </Box>
      ),
    },
    { key: 'format', header: t('datasets.colFormat'), cell: (d) => <Chip size="small" label={d.format.toUpperCase()} /> },
    { key: 'rows', header: t('datasets.colRows'), align: 'right', cell: (d) => <span data-testid="dataset-rows">{formatNumber(d.rowCount, language)}</span> },
    {
      key: 'splits',
      header: t('datasets.colSplits'),
      align: 'right',
      hideBelow: 'md',
      cell: (d) => `${split(d.trainRows, language)} / ${split(d.validationRows, language)} / ${split(d.testRows, language)}`,
    },
    {
      key: 'skipped',
      header: t('datasets.colSkipped'),
      align: 'right',
      cell: (d) => (d.skippedRows > 0 ? <Chip size="small" color="warning" variant="outlined" label={formatNumber(d.skippedRows, language)} /> : '0'),
    },
    {
      key: 'columns',
      header: t('datasets.colColumns'),
      hideBelow: 'md',
      cell: (d) => {
        const q = d.columnMapping.question;
        const a = d.columnMapping.answer;
        return typeof q === 'string' && typeof a === 'string' ? (
          <Box component="span" sx={{ fontFamily: monoFonts, fontSize: 13 }}>
            {q} → {a}
          </Box>
        ) : (
          '—'
        );
      },
    },
    { key: 'imported', header: t('datasets.colImported'), hideBelow: 'lg', cell: (d) => formatDateTime(d.importedAt, language) },
    {
      key: 'actions',
      header: s.actions,
      align: 'right',
      cell: (d) => (
        <Box sx={{ whiteSpace: 'nowrap' }}>
          <Tooltip title={s.details}>
            <IconButton size="small" aria-label={`${s.details} ${d.name}`} onClick={() => onDetails(d)} data-testid="dataset-details">
              <QueryStatsOutlinedIcon fontSize="small" />
            </IconButton>
          </Tooltip>
          <Tooltip title={s.delete}>
            <IconButton size="small" aria-label={`${s.delete} ${d.name}`} onClick={() => onDelete(d)} data-testid="dataset-delete">
              <DeleteOutlineIcon fontSize="small" />
            </IconButton>
          </Tooltip>
        </Box>
      ),
    },
  ];
}
