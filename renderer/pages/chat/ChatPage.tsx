// Chat: questions to a trained run (its base model + adapter) or to a base model; the answer
// grows as chat:tokens batches arrive, chat:status ends it (the stored text is the authority).
import { useEffect, useRef, useState } from 'react';
import {
  Box,
  Button,
  Collapse,
  FormControl,
  IconButton,
  InputLabel,
  List,
  ListItemButton,
  ListItemText,
  MenuItem,
  Paper,
  Select,
  Stack,
  TextField,
  Tooltip,
  Typography,
} from '@mui/material';
import ForumOutlinedIcon from '@mui/icons-material/ForumOutlined';
import SendIcon from '@mui/icons-material/Send';
import StopIcon from '@mui/icons-material/Stop';
import TuneIcon from '@mui/icons-material/Tune';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import type { ChatMessageInfo, ChatSessionInfo, GenerationOptions } from '../../../common/contract/chat';
import { GenerationOptionsSchema } from '../../../common/contract/chat';
import { useI18n, useT } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { useReportError } from '../../state/errors';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { chatStrings, fill } from './strings';

type Strings = ReturnType<typeof chatStrings>;

export function ChatPage() {
  const t = useT();
  const { language } = useI18n();
  const s = chatStrings(language);
  const sessions = useQuery(() => api.chat.sessions({}));
  const [current, setCurrent] = useState<number | null>(null);
  const list = sessions.status === 'ok' ? sessions.value : [];
  const session = list.find((x) => x.id === current) ?? null;

  return (
    <>
      <PageHeader route="chat" title={t('chat.title')} subtitle={t('chat.subtitle')} />
      <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', md: '280px 1fr' }, alignItems: 'start' }}>
        <Stack spacing={2}>
          <NewChat
            s={s}
            onCreated={(created) => {
              sessions.reload();
              setCurrent(created.id);
            }}
          />
          <Paper variant="outlined">
            <Typography variant="overline" sx={{ px: 2, pt: 1, display: 'block' }}>
              {s.sessions}
            </Typography>
            <List dense data-testid="chat-sessions">
              {list.map((x) => (
                <ListItemButton key={x.id} selected={x.id === current} onClick={() => setCurrent(x.id)} data-testid={`chat-session-${x.id}`}>
                  <ListItemText primary={x.title} secondary={x.runId === null ? s.baseModel : fill(s.run, { id: x.runId })} />
                </ListItemButton>
              ))}
            </List>
          </Paper>
        </Stack>
        {session ? (
          <Conversation
            key={session.id}
            session={session}
            s={s}
            onDeleted={() => {
              setCurrent(null);
              sessions.reload();
            }}
          />
        ) : (
          <EmptyState testId="chat-empty" icon={<ForumOutlinedIcon />} title={t('chat.emptyTitle')} body={s.noSession} />
        )}
      </Box>
    </>
  );
}

function NewChat({ s, onCreated }: { s: Strings; onCreated: (session: ChatSessionInfo) => void }) {
  const report = useReportError();
  const runs = useQuery(() => api.runs.list({ status: 'completed' }));
  const models = useQuery(() => api.models.list({}));
  const [runId, setRunId] = useState<number | ''>('');
  const [modelId, setModelId] = useState<number | ''>('');
  const runList = runs.status === 'ok' ? runs.value : [];
  const modelList = models.status === 'ok' ? models.value : [];
  const create = async () => {
    const r = await api.chat.createSession(runId !== '' ? { runId } : { modelId: modelId as number });
    if (!r.ok) report(r.error);
    else onCreated(r.value);
  };
  return (
    <Paper variant="outlined" sx={{ p: 2 }}>
      <Stack spacing={1.5}>
        <Typography variant="overline">{s.newChat}</Typography>
        <FormControl size="small" fullWidth data-testid="chat-pick-run">
          <InputLabel id="chat-run-label">{s.pickRun}</InputLabel>
          <Select
            labelId="chat-run-label"
            label={s.pickRun}
            value={runId}
            onChange={(e) => {
              const v = e.target.value as number | '';
              setRunId(v === '' ? '' : Number(v));
              setModelId('');
            }}
          >
            <MenuItem value="">{s.none}</MenuItem>
            {runList.map((r) => (
              <MenuItem key={r.id} value={r.id}>
                {r.name}
              </MenuItem>
            ))}
          </Select>
        </FormControl>
        {runs.status === 'ok' && runList.length === 0 && (
          <Typography variant="caption" color="text.secondary">
            {s.noTrained}
          </Typography>
        )}
        <FormControl size="small" fullWidth data-testid="chat-pick-model">
          <InputLabel id="chat-model-label">{s.pickModel}</InputLabel>
          <Select
            labelId="chat-model-label"
            label={s.pickModel}
            value={modelId}
            onChange={(e) => {
              const v = e.target.value as number | '';
              setModelId(v === '' ? '' : Number(v));
              setRunId('');
            }}
          >
            <MenuItem value="">{s.none}</MenuItem>
            {modelList.map((m) => (
              <MenuItem key={m.id} value={m.id}>
                {m.name}
              </MenuItem>
            ))}
          </Select>
        </FormControl>
        <Button variant="contained" disabled={runId === '' && modelId === ''} onClick={() => void create()} data-testid="chat-create">
          {s.create}
        </Button>
      </Stack>
    </Paper>
  );
}

/** An assistant message while it streams: the text so far and the token count. */
interface Live {
  messageId: number;
  text: string;
  tokens: number;
}

function Conversation({ session, s, onDeleted }: { session: ChatSessionInfo; s: Strings; onDeleted: () => void }) {
  const report = useReportError();
  const messages = useQuery(() => api.chat.messages({ sessionId: session.id }));
  const { reload } = messages;
  const [live, setLive] = useState<Live | null>(null);
  const [input, setInput] = useState('');
  const [options, setOptions] = useState<GenerationOptions>(() => GenerationOptionsSchema.parse({}));
  const [showSettings, setShowSettings] = useState(false);
  // The answer this page asked for, until chat:status ends it.
  const [pendingId, setPendingId] = useState<number | null>(null);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const offTokens = api.on('chat:tokens', (batch) => {
      for (const b of batch) {
        if (b.sessionId !== session.id) continue;
        setLive((l) => (l && l.messageId === b.messageId ? { ...l, text: l.text + b.text, tokens: b.tokens } : { messageId: b.messageId, text: b.text, tokens: b.tokens }));
      }
    });
    const offStatus = api.on('chat:status', (batch) => {
      if (!batch.some((b) => b.sessionId === session.id)) return;
      setPendingId(null);
      setLive(null);
      reload();
    });
    return () => {
      offTokens();
      offStatus();
    };
  }, [session.id, reload]);

  // Braces: newer Chromium's scrollIntoView returns a Promise, which React would call as a cleanup.
  useEffect(() => {
    void bottom.current?.scrollIntoView({ block: 'end' });
  }, [live, messages.status, messages.value]);

  const list = messages.status === 'ok' ? messages.value : [];
  const generating = list.find((m) => m.role === 'assistant' && m.stats.status === 'generating');
  const busy = generating !== undefined || pendingId !== null;

  const send = async () => {
    const content = input.trim();
    if (!content || busy) return;
    const r = await api.chat.send({ sessionId: session.id, content, options });
    if (!r.ok) {
      report(r.error);
      return;
    }
    setPendingId(r.value.messageId);
    setInput('');
    setLive({ messageId: r.value.messageId, text: '', tokens: 0 });
    reload();
  };
  const stop = async () => {
    const id = pendingId ?? generating?.id;
    if (id === undefined || id === null) return;
    const r = await api.chat.cancel({ messageId: id });
    if (!r.ok) report(r.error);
  };
  const remove = async () => {
    const r = await api.chat.deleteSession({ sessionId: session.id });
    if (!r.ok) report(r.error);
    else onDeleted();
  };

  return (
    <Paper variant="outlined" sx={{ display: 'flex', flexDirection: 'column', minHeight: 420 }} data-testid="chat-conversation">
      <Stack direction="row" sx={{ alignItems: 'center', px: 2, py: 1, borderBottom: 1, borderColor: 'divider' }}>
        <Typography variant="h3" component="h2" sx={{ flex: 1 }}>
          {session.title}
        </Typography>
        <Tooltip title={s.settings}>
          <IconButton onClick={() => setShowSettings((v) => !v)} aria-label={s.settings} data-testid="chat-settings-toggle">
            <TuneIcon />
          </IconButton>
        </Tooltip>
        <Tooltip title={s.delete}>
          <IconButton onClick={() => void remove()} aria-label={s.delete} data-testid="chat-delete">
            <DeleteOutlineIcon />
          </IconButton>
        </Tooltip>
      </Stack>
      <Collapse in={showSettings}>
        <GenerationSettings options={options} onChange={setOptions} s={s} />
      </Collapse>
      <Stack spacing={1.5} sx={{ p: 2, flex: 1, overflowY: 'auto', maxHeight: '60vh' }} data-testid="chat-messages">
        {list.map((m) => (
          <Bubble key={m.id} message={m} live={live && live.messageId === m.id ? live : null} s={s} />
        ))}
        <div ref={bottom} />
      </Stack>
      <Stack direction="row" spacing={1} sx={{ p: 1, borderTop: 1, borderColor: 'divider', alignItems: 'center' }}>
        <TextField
          fullWidth
          size="small"
          multiline
          maxRows={6}
          value={input}
          placeholder={s.placeholder}
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
          }}
          slotProps={{ htmlInput: { 'aria-label': s.placeholder, 'data-testid': 'chat-input' } }}
        />
        {busy ? (
          <Tooltip title={s.stop}>
            <IconButton color="error" onClick={() => void stop()} aria-label={s.stop} data-testid="chat-stop">
              <StopIcon />
            </IconButton>
          </Tooltip>
        ) : (
          <Tooltip title={s.send}>
            <span>
              <IconButton color="primary" disabled={!input.trim()} onClick={() => void send()} aria-label={s.send} data-testid="chat-send">
                <SendIcon />
              </IconButton>
            </span>
          </Tooltip>
        )}
      </Stack>
    </Paper>
  );
}

function Bubble({ message, live, s }: { message: ChatMessageInfo; live: Live | null; s: Strings }) {
  const mine = message.role === 'user';
  const status = message.stats.status as string | undefined;
  const text = live ? live.text : message.content;
  const tokens = live ? live.tokens : (message.stats.tokens as number | undefined);
  const ms = message.stats.ms as number | undefined;
  let footer = '';
  if (!mine) {
    if (status === 'generating') footer = s.generating;
    else if (status === 'cancelled') footer = s.cancelled;
    else if (status === 'failed') footer = fill(s.failed, { error: String(message.stats.error ?? '') });
    if (status !== 'generating' && tokens !== undefined && ms !== undefined) footer = [footer, fill(s.stats, { tokens, seconds: (ms / 1000).toFixed(1) })].filter(Boolean).join(' · ');
  }
  return (
    <Box sx={{ display: 'flex', justifyContent: mine ? 'flex-end' : 'flex-start' }} data-testid={mine ? 'chat-user-message' : 'chat-answer'} data-status={status}>
      <Box
        sx={{
          maxWidth: '80%',
          px: 1.5,
          py: 1,
          borderRadius: 2,
          bgcolor: mine ? 'primary.main' : 'action.hover',
          color: mine ? 'primary.contrastText' : 'text.primary',
          whiteSpace: 'pre-wrap',
          wordBreak: 'break-word',
        }}
      >
        <Typography variant="caption" sx={{ opacity: 0.8, display: 'block' }}>
          {mine ? s.you : s.model}
        </Typography>
        <Typography variant="body2" data-testid={mine ? undefined : 'chat-answer-text'}>
          {text || (status === 'generating' ? '…' : '')}
        </Typography>
        {footer && (
          <Typography variant="caption" color={status === 'failed' ? 'error' : 'text.secondary'} sx={{ display: 'block', mt: 0.5 }}>
            {footer}
          </Typography>
        )}
      </Box>
    </Box>
  );
}

function GenerationSettings({ options, onChange, s }: { options: GenerationOptions; onChange: (o: GenerationOptions) => void; s: Strings }) {
  const num = (key: keyof GenerationOptions, label: string, step = 1) => (
    <TextField
      size="small"
      type="number"
      label={label}
      value={options[key] as number}
      onChange={(e) => {
        const next = { ...options, [key]: Number(e.target.value) };
        // Keep only values the contract accepts (the same schema main checks).
        if (GenerationOptionsSchema.safeParse(next).success) onChange(next);
      }}
      slotProps={{ htmlInput: { step, 'data-testid': `chat-opt-${key}` } }}
    />
  );
  return (
    <Box sx={{ p: 2, display: 'grid', gap: 1.5, gridTemplateColumns: { xs: '1fr 1fr', md: 'repeat(4, 1fr)' }, borderBottom: 1, borderColor: 'divider' }} data-testid="chat-settings">
      <FormControl size="small">
        <InputLabel id="chat-mode-label">{s.mode}</InputLabel>
        <Select labelId="chat-mode-label" label={s.mode} value={options.mode} onChange={(e) => onChange({ ...options, mode: e.target.value as GenerationOptions['mode'] })} data-testid="chat-opt-mode">
          <MenuItem value="greedy">{s.greedy}</MenuItem>
          <MenuItem value="beam">{s.beam}</MenuItem>
          <MenuItem value="sampling">{s.sampling}</MenuItem>
        </Select>
      </FormControl>
      {num('maxNewTokens', s.maxNewTokens)}
      {options.mode === 'beam' && num('numBeams', s.numBeams)}
      {options.mode === 'sampling' && num('temperature', s.temperature, 0.05)}
      {options.mode === 'sampling' && num('topP', s.topP, 0.05)}
      {options.mode === 'sampling' && num('topK', s.topK)}
      {num('repetitionPenalty', s.repetitionPenalty, 0.05)}
    </Box>
  );
}
