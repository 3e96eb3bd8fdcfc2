// Datasets: question/answer files with their column mapping, template and statistics.
// Import arrives with the datasets channels (issue 3).
import CloudDownloadOutlinedIcon from '@mui/icons-material/CloudDownloadOutlined';
import TableChartOutlinedIcon from '@mui/icons-material/TableChartOutlined';
import UploadFileOutlinedIcon from '@mui/icons-material/UploadFileOutlined';
import { useT } from '../../i18n';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { DisabledAction } from '../../components/DisabledAction';

export function DatasetsPage() {
  const t = useT();
  const notYet = t('common.notYet');
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
            <DisabledAction reason={notYet} variant="contained" startIcon={<UploadFileOutlinedIcon />} testId="datasets-import">
              {t('datasets.importFile')}
            </DisabledAction>
          </>
        }
      />
      <EmptyState
        testId="datasets-empty"
        icon={<TableChartOutlinedIcon />}
        title={t('datasets.emptyTitle')}
        body={t('datasets.emptyBody')}
        actions={
          <DisabledAction reason={notYet} variant="contained" startIcon={<UploadFileOutlinedIcon />}>
            {t('datasets.importFile')}
          </DisabledAction>
        }
      />
    </>
  );
}
