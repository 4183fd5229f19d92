/** Any server speaking the OpenAI API (vLLM, Ollama, LiteLLM, ...): OpenAI's wire format and bearer keys. */
import { openAiWire } from './openai.ts';
import { BEARER, type ApiProfile } from './profile.ts';

export const openaiCompatible: ApiProfile<'openai-compatible', 'openai'> = {
  name: 'openai-compatible',
  title: 'OpenAI-compatible server',
  system: 'openai',
  wire: openAiWire,
  credentials: [BEARER],
};
