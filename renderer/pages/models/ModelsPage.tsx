// Models: base models of the T5 family. Import and listing arrive with the models channels
// (issue 3); until then the page says what belongs here and what will be possible.
import CloudDownloadOutlinedIcon from '@mui/icons-material/CloudDownloadOutlined';
import CreateNewFolderOutlinedIcon from '@mui/icons-material/CreateNewFolderOutlined';
import ViewInArOutlinedIcon from '@mui/icons-material/ViewInArOutlined';
import { useT } from '../../i18n';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { DisabledAction } from '../../components/DisabledAction';

export function ModelsPage() {
  const t = useT();
  const notYet = t('common.notYet');
  return (
    <>
      <PageHeader
        route="models"
        title={t('models.title')}
        subtitle={t('models.subtitle')}
        actions={
          <>
            <DisabledAction reason={notYet} variant="outlined" startIcon={<CloudDownloadOutlinedIcon />} testId="models-pull">
              {t('models.pull')}
            </DisabledAction>
            <DisabledAction reason={notYet} variant="contained" startIcon={<CreateNewFolderOutlinedIcon />} testId="models-import">
              {t('models.importFolder')}
            </DisabledAction>
          </>
        }
      />
      <EmptyState
        testId="models-empty"
        icon={<ViewInArOutlinedIcon />}
        title={t('models.emptyTitle')}
        body={t('models.emptyBody')}
        actions={
          <DisabledAction reason={notYet} variant="contained" startIcon={<CreateNewFolderOutlinedIcon />}>
            {t('models.importFolder')}
          </DisabledAction>
        }
      />
    </>
  );
}
