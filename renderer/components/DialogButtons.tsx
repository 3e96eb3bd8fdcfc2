import { Button } from '@mui/material';

/** Cancel · Check · Import, as the import dialogs show them: checking first is offered, never required; nothing runs twice at once or without a source. */
export function CheckThenImportButtons(props: {
  labels: { cancel: string; check: string; import: string };
  busy: boolean;
  ready: boolean;
  onCancel: () => void;
  onCheck: () => void;
  onImport: () => void;
  checkTestId: string;
  importTestId: string;
}) {
  const { labels, busy, ready } = props;
  return (
    <>
      <Button onClick={props.onCancel} disabled={busy}>
        {labels.cancel}
      </Button>
      <Button onClick={props.onCheck} disabled={busy || !ready} data-testid={props.checkTestId}>
        {labels.check}
      </Button>
      <Button variant="contained" onClick={props.onImport} disabled={busy || !ready} data-testid={props.importTestId}>
        {labels.import}
      </Button>
    </>
  );
}

/** Cancel · Delete, as the delete dialogs show them: the destructive button in red, both held while the delete runs. */
export function CancelThenDeleteButtons(props: {
  labels: { cancel: string; delete: string };
  busy: boolean;
  onCancel: () => void;
  onDelete: () => void;
  deleteTestId: string;
  autoFocusCancel?: boolean;
}) {
  return (
    <>
      <Button onClick={props.onCancel} disabled={props.busy} autoFocus={props.autoFocusCancel}>
        {props.labels.cancel}
      </Button>
      <Button color="error" variant="contained" onClick={props.onDelete} disabled={props.busy} data-testid={props.deleteTestId}>
        {props.labels.delete}
      </Button>
    </>
  );
}
