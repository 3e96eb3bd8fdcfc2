// Chat: questions to a fine-tuned adapter, answers streamed token by token (a later issue).
import { Box, IconButton, Paper, TextField, Tooltip } from '@mui/material';
import ForumOutlinedIcon from '@mui/icons-material/ForumOutlined';
import SendIcon from '@mui/icons-material/Send';
import { useT } from '../../i18n';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';

export function ChatPage() {
  const t = useT();
  return (
    <>
      <PageHeader route="chat" title={t('chat.title')} subtitle={t('chat.subtitle')} />
      <EmptyState testId="chat-empty" icon={<ForumOutlinedIcon />} title={t('chat.emptyTitle')} body={t('chat.emptyBody')} />
      <Paper variant="outlined" sx={{ mt: 2, p: 1, display: 'flex', gap: 1, alignItems: 'center' }}>
        <Tooltip title={t('chat.emptyTitle')}>
          <Box sx={{ flex: 1 }}>
            <TextField fullWidth size="small" disabled placeholder={t('chat.placeholder')} slotProps={{ htmlInput: { 'aria-label': t('chat.placeholder') } }} />
          </Box>
        </Tooltip>
        <Tooltip title={t('chat.emptyTitle')}>
          <span>
            <IconButton disabled aria-label={t('chat.send')}>
              <SendIcon />
            </IconButton>
          </span>
        </Tooltip>
      </Paper>
    </>
  );
}
