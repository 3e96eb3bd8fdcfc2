// Models: imported base models of the T5 family (models:list), imported from a folder
// (models:import) or pulled from the Hub (models:pull), deleted after asking (models:delete).
import { useState } from 'react';
import { Box, Button, Chip, IconButton, Tooltip, Typography } from '@mui/material';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import CloudDownloadOutlinedIcon from '@mui/icons-material/CloudDownloadOutlined';
import CreateNewFolderOutlinedIcon from '@mui/icons-material/CreateNewFolderOutlined';
import ViewInArOutlinedIcon from '@mui/icons-material/ViewInArOutlined';
import type { Model } from '../../../common/contract/models';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { QueryView } from '../../components/QueryView';
import { DataTable, type Column } from '../../components/DataTable';
import { formatBytes, formatCount, formatDateTime, formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';
import { DeleteModelDialog, ImportModelDialog, PullModelDialog } from './ModelDialogs';
import { modelStrings } from './strings';

export function ModelsPage() {
  const { t, language } = useI18n();
  const models = useQuery(() => api.models.list({}));
  const [importing, setImporting] = useState(false);
  const [pulling, setPulling] = useState(false);
  const [deleting, setDeleting] = useState<Model | null>(null);
  const importButton = (testId: string) => (
    <Button variant="contained" startIcon={<CreateNewFolderOutlinedIcon />} onClick={() => setImporting(true)} data-testid={testId}>
      {t('models.importFolder')}
    </Button>
  );
  return (
    <>
      <PageHeader
        route="models"
        title={t('models.title')}
        subtitle={t('models.subtitle')}
        actions={
          <>
            <Button variant="outlined" startIcon={<CloudDownloadOutlinedIcon />} onClick={() => setPulling(true)} data-testid="models-pull">
              {t('models.pull')}
            </Button>
            {importButton('models-import')}
          </>
        }
      />
      <ImportModelDialog open={importing} onClose={() => setImporting(false)} onImported={() => models.reload()} />
      <PullModelDialog open={pulling} onClose={() => setPulling(false)} onImported={() => models.reload()} />
      <DeleteModelDialog model={deleting} onClose={() => setDeleting(null)} onDeleted={() => models.reload()} />
      <QueryView query={models} failedTitle={t('models.loadFailed')} testId="models">
        {(list) =>
          list.length === 0 ? (
            <EmptyState testId="models-empty" icon={<ViewInArOutlinedIcon />} title={t('models.emptyTitle')} body={t('models.emptyBody')} actions={importButton('models-empty-import')} />
          ) : (
            <DataTable rows={list} columns={modelColumns(t, language, setDeleting)} rowKey={(m) => m.id} testId="models-table" label={t('models.title')} />
          )
        }
      </QueryView>
    </>
  );
}

const dash = '—';
const num = (n: number | null, language: Language) => (n === null ? dash : formatNumber(n, language));

function modelColumns(t: Translate, language: Language, onDelete: (m: Model) => void): Column<Model>[] {
  const s = modelStrings(language);
  return [
    {
      key: 'name',
      header: t('models.colName'),
      cell: (m) => (
        <Box sx={{ minWidth: 180 }}>
          <Typography variant="body2" sx={{ fontWeight: 650 }} data-testid="model-name">
            {m.name}
          </Typography>
          <Tooltip title={m.copied ? t('models.copied') : t('models.linked')}>
            <Typography variant="caption" color="text.secondary" sx={{ fontFamily: monoFonts, wordBreak: 'break-all' }}>
              {m.sourcePath ?? m.storedPath}
            </Typography>
          </Tooltip>
        </Box>
      ),
    },
    {
      key: 'architecture',
      header: t('models.colArchitecture'),
      cell: (m) => (
        <Box>
          {m.modelType && <Chip size="small" label={m.modelType} sx={{ fontFamily: monoFonts, mr: 0.5 }} />}
          <Typography variant="caption" color="text.secondary" component="div">
            {m.architecture ?? ''}
          </Typography>
        </Box>
      ),
    },
    {
      key: 'layers',
      header: t('models.colLayers'),
      align: 'right',
      cell: (m) => (m.numLayers === null ? dash : `${m.numLayers} + ${m.numDecoderLayers ?? m.numLayers}`),
    },
    { key: 'dModel', header: t('models.colDModel'), align: 'right', hideBelow: 'lg', cell: (m) => num(m.dModel, language) },
    { key: 'vocab', header: t('models.colVocab'), align: 'right', hideBelow: 'md', cell: (m) => num(m.vocabSize, language) },
    { key: 'params', header: t('models.colParams'), align: 'right', cell: (m) => (m.paramCount === null ? dash : formatCount(m.paramCount, language)) },
    { key: 'dtype', header: t('models.colDtype'), hideBelow: 'md', cell: (m) => m.dtype ?? dash },
    { key: 'disk', header: t('models.colSize'), align: 'right', cell: (m) => (m.diskBytes === null ? dash : formatBytes(m.diskBytes, language)) },
    { key: 'imported', header: t('models.colImported'), hideBelow: 'lg', cell: (m) => formatDateTime(m.importedAt, language) },
    {
      key: 'actions',
      header: s.actions,
      align: 'right',
      cell: (m) => (
        <Tooltip title={s.delete}>
          <IconButton size="small" aria-label={`${s.delete} ${m.name}`} onClick={() => onDelete(m)} data-testid="model-delete">
            <DeleteOutlineIcon fontSize="small" />
          </IconButton>
        </Tooltip>
      ),
    },
  ];
}
